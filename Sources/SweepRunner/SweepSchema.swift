/// What each dataset of sweep.h5 is, in CF terms: a `long_name` a plot can label an axis with and
/// its `units` (`1` for ratios, counts, indices, labels and activations; `seconds since 1970-01-01
/// 00:00:00` for times, which xarray decodes to datetime64). `Merge` writes both on every dataset
/// and `Conventions` on the root, so `xr.open_dataset(…, engine="h5netcdf")` labels itself.
/// The dataset names and dimensions are a contract (README); this table only describes them.
public enum SweepSchema {
    public struct Entry: Sendable, Equatable {
        public let longName: String
        public let units: String
        public init(longName: String, units: String) {
            self.longName = longName
            self.units = units
        }
    }

    /// The CF version the attributes follow.
    public static let conventions = "CF-1.10"

    /// The entry of `dataset`; nil for a name the table does not know (a test keeps it complete).
    public static func entry(_ dataset: String) -> Entry? { table[dataset].map { Entry(longName: $0.0, units: $0.1) } }

    static let one = "1"
    static let table: [String: (String, String)] = [
        // Axes (dimension scales).
        "checkpoint": ("checkpoint name", one),
        "language": ("language code", one),
        "target_language": ("language code of the data the experts are scored on", one),
        "concept": ("concept", one),
        "layer": ("layer: 0 the embeddings, L the output of block L-1 (hidden.L)", one),
        "block": ("transformer block", one),
        "unit": ("MLP unit, layer-major (unit = block * width + i)", one),
        "rank": ("rank of the expert by average precision", one),
        "seed": ("probe split seed", one),
        "sample": ("generated sample", one),
        "sentence": ("concept-pool sentence", one),
        "probe_sentence": ("probe sentence", one),
        "probe_token": ("sampled probe token", one),
        "hidden": ("residual-stream feature", one),
        "threshold": ("LAPE threshold", one),
        "vocab": ("vocabulary token id", one),
        "lens_token": ("probe token read through the logit lens", one),
        "target": ("language whose tokens the lens mass is on (then unattributed)", one),
        "task": ("task id", one),
        "missing_task": ("task id without a current fragment", one),
        "virtual_source": ("fragment file a virtual dataset reads, relative to this file", one),
        // Checkpoints.
        "checkpoint_directory": ("directory the checkpoint was loaded from", one),
        "checkpoint_fingerprint": ("SHA-256 fingerprint of the checkpoint's weights", one),
        "checkpoint_kernels": ("kernels of the dense products", one),
        "checkpoint_precision": ("weights precision of the forward passes", one),
        "checkpoint_source": ("where the checkpoint came from (path or repo@revision)", one),
        "checkpoint_step": ("training step of the checkpoint", one),
        "checkpoint_tokens": ("training tokens seen by the checkpoint", one),
        "checkpoint_tokenizer": ("SHA-256 of the checkpoint's tokenizer.json", one),
        "checkpoint_tokenizer_source": ("where the checkpoint's tokenizer came from", one),
        "duplicate_of": ("earlier checkpoint with identical weights", one),
        "config_text": ("the sweep's config (YAML)", one),
        // Logit lens.
        "token_language": ("language a vocabulary token is attributed to", one),
        "logit_lens_token": ("probe token read through the logit lens", one),
        "logit_lens_mass": ("logit-lens probability mass on the target language's tokens", one),
        "logit_lens_accuracy": ("logit-lens top-1 next-token accuracy", one),
        // Probes.
        "probe_accuracy": ("language-identification probe test accuracy", one),
        "probe_hidden": ("hidden state at the sampled probe tokens", one),
        "probe_token_id": ("token id of the sampled probe token", one),
        "probe_token_sentence": ("probe sentence of the sampled probe token", one),
        "probe_token_count": ("sampled probe tokens", one),
        "probe_text": ("probe sentence text", one),
        // Experts.
        "expert_ap": ("average precision of the unit as a concept detector", one),
        "expert_on_p50": ("median pooled activation of the unit over the concept's positives", one),
        "expert_on_p90": ("90th percentile pooled activation of the unit over the concept's positives", one),
        "expert_off_mean": ("mean pooled activation of the unit over the concept's negatives", one),
        "experts": ("expert unit (flat unit index) by rank", one),
        "positives": ("positive sentences of the concept", one),
        "pooled_mlp": ("pooled MLP activation per sentence and unit", one),
        "pooled_sentence_index": ("concept-pool sentence of the pooled row", one),
        "pooled_sentence_count": ("pooled sentences", one),
        "concept_labels": ("concept label of the sentence (1 positive, 0 negative, -1 padding)", one),
        "sentence_text": ("concept-pool sentence text", one),
        // Alignment.
        "overlap": ("share of experts shared by the two languages", one),
        "chance_overlap": ("expected expert overlap by chance", one),
        "overlap_per_layer": ("share of experts shared by the two languages, per block", one),
        "chance_overlap_per_layer": ("expected expert overlap by chance, per block", one),
        "cross_ap": ("average precision of the language's experts on the target language's data", one),
        "cross_ap_baseline": ("average precision of random units on the target language's data", one),
        // LAPE.
        "activation_probability": ("probability that the unit is active on the language's tokens", one),
        "language_specific": ("LAPE language-specific unit (1 selected)", one),
        "language_specific_per_layer": ("LAPE language-specific units per block", one),
        "lape_thresholds": ("LAPE thresholds", one),
        "count": ("number of languages", one),
        "language_count_histogram": ("units above LAPE's activation bar in `count` languages", one),
        // Generation.
        "generation_text": ("text generated with the concept's experts forced", one),
        "generation_language": ("language identified in the generated text", one),
        "generation_concept_present": ("concept word present in the generated text (1 yes)", one),
        "control": ("control draw of random units", one),
        "control_units": ("random unit (flat unit index) matched to the experts", one),
        "control_generation_text": ("text generated with random matched units forced", one),
        "control_generation_language": ("language identified in the control's generated text", one),
        "control_generation_concept_present": ("concept word present in the control's generated text (1 yes)", one),
        "arm": ("what was forced: the experts, random matched units, or nothing", one),
        "unforced_generation_text": ("text generated with nothing forced", one),
        "unforced_generation_language": ("language identified in the unforced generated text", one),
        "unforced_generation_concept_present": ("concept word present in the unforced generated text (1 yes)", one),
        "measure": ("share measured over the samples", one),
        "bound": ("bound of the interval", one),
        "generation_share": ("share of generated samples", one),
        "generation_share_interval": ("95% bootstrap interval of the share of generated samples", one),
        // Tasks and provenance.
        "task_kind": ("task kind", one),
        "task_started": ("task start time", "seconds since 1970-01-01 00:00:00"),
        "task_seconds": ("task duration", "s"),
        "task_host": ("node that ran the task", one),
        "task_worker": ("worker that ran the task", one),
        "task_attempt": ("attempt that produced the fragment", one),
        "task_cpu": ("kernel level of the worker's CPU", one),
        "task_peak_rss_bytes": ("peak resident memory of the worker", "byte"),
        "missing_task_failure": ("whose fault the missing task's failure was", one),
        "missing_task_error": ("last failure of the missing task", one),
        "virtual_source_sha256": ("SHA-256 of the fragment file recorded when it was written", one),
    ]
}
