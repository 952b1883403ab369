/// What each dataset of sweep.h5 is: its dimension names (the named axes it is indexed by), a
/// CF `long_name` a plot can label an axis with, and its `units` (`1` for ratios, counts, indices,
/// labels and activations; `seconds since 1970-01-01 00:00:00` for times, which xarray decodes to
/// datetime64). One table for both sides: `Merge` attaches these dimensions and writes these
/// attributes (and refuses a dataset the table does not describe as it was written), `Report`
/// reads every dataset through it by named axis (`SweepArray`), and a test holds a merged file's
/// dimension scales to it. The dataset names and dimensions are a contract (README).
public enum SweepSchema {
    public struct Entry: Sendable, Equatable {
        public let longName: String
        public let units: String
        /// Dimension names in storage order (an axis dataset's is its own name; a scalar's is empty).
        public let dimensions: [String]
        public init(longName: String, units: String, dimensions: [String]) {
            self.longName = longName
            self.units = units
            self.dimensions = dimensions
        }
    }

    /// The CF version the attributes follow.
    public static let conventions = "CF-1.10"

    /// The entry of `dataset`; nil for a name the table does not know (a test keeps it complete).
    public static func entry(_ dataset: String) -> Entry? {
        table[dataset].map { Entry(longName: $0.0, units: $0.1, dimensions: $0.2) }
    }

    /// The dimension names of `dataset` (empty for a name the table does not know).
    public static func dimensions(_ dataset: String) -> [String] { table[dataset]?.2 ?? [] }

    /// Every dataset the table describes.
    public static var names: [String] { table.keys.sorted() }

    static let one = "1"
    static let table: [String: (String, String, [String])] = [
        // Axes (dimension scales).
        "checkpoint": ("checkpoint name", one, ["checkpoint"]),
        "language": ("language code", one, ["language"]),
        "target_language": ("language code of the data the experts are scored on", one, ["target_language"]),
        "concept": ("concept", one, ["concept"]),
        "layer": ("layer: 0 the embeddings, L the output of block L-1 (hidden.L)", one, ["layer"]),
        "block": ("transformer block", one, ["block"]),
        "unit": ("MLP unit, layer-major (unit = block * width + i)", one, ["unit"]),
        "rank": ("rank of the expert by average precision", one, ["rank"]),
        "seed": ("probe split seed", one, ["seed"]),
        "sample": ("generated sample", one, ["sample"]),
        "sentence": ("concept-pool sentence", one, ["sentence"]),
        "probe_sentence": ("probe sentence", one, ["probe_sentence"]),
        "probe_token": ("sampled probe token", one, ["probe_token"]),
        "hidden": ("residual-stream feature", one, ["hidden"]),
        "threshold": ("LAPE threshold", one, ["threshold"]),
        "vocab": ("vocabulary token id", one, ["vocab"]),
        "lens_token": ("probe token read through the logit lens", one, ["lens_token"]),
        "target": ("language whose tokens the lens mass is on (then unattributed)", one, ["target"]),
        "task": ("task id", one, ["task"]),
        "missing_task": ("task id without a current fragment", one, ["missing_task"]),
        "virtual_source": ("fragment file a virtual dataset reads, relative to this file", one, ["virtual_source"]),
        // Checkpoints.
        "checkpoint_directory": ("directory the checkpoint was loaded from", one, ["checkpoint"]),
        "checkpoint_fingerprint": ("SHA-256 fingerprint of the checkpoint's weights", one, ["checkpoint"]),
        "checkpoint_kernels": ("kernels of the dense products", one, ["checkpoint"]),
        "checkpoint_precision": ("weights precision of the forward passes", one, ["checkpoint"]),
        "checkpoint_source": ("where the checkpoint came from (path or repo@revision)", one, ["checkpoint"]),
        "checkpoint_step": ("training step of the checkpoint", one, ["checkpoint"]),
        "checkpoint_tokens": ("training tokens seen by the checkpoint", one, ["checkpoint"]),
        "checkpoint_tokenizer": ("SHA-256 of the checkpoint's tokenizer.json", one, ["checkpoint"]),
        "checkpoint_tokenizer_source": ("where the checkpoint's tokenizer came from", one, ["checkpoint"]),
        "duplicate_of": ("earlier checkpoint with identical weights", one, ["checkpoint"]),
        "config_text": ("the sweep's config (YAML)", one, []),
        // Logit lens.
        "token_language": ("language a vocabulary token is attributed to", one, ["checkpoint", "vocab"]),
        "logit_lens_token": ("probe token read through the logit lens", one, ["checkpoint", "language", "lens_token"]),
        "logit_lens_mass": ("logit-lens probability mass on the target language's tokens", one, ["checkpoint", "language", "layer", "target"]),
        "logit_lens_accuracy": ("logit-lens top-1 next-token accuracy", one, ["checkpoint", "language", "layer"]),
        // Probes.
        "probe_accuracy": ("language-identification probe test accuracy", one, ["checkpoint", "layer", "seed"]),
        "probe_hidden": ("hidden state at the sampled probe tokens", one, ["checkpoint", "language", "layer", "probe_token", "hidden"]),
        "probe_token_id": ("token id of the sampled probe token", one, ["checkpoint", "language", "probe_token"]),
        "probe_token_sentence": ("probe sentence of the sampled probe token", one, ["checkpoint", "language", "probe_token"]),
        "probe_token_count": ("sampled probe tokens", one, ["checkpoint", "language"]),
        "probe_text": ("probe sentence text", one, ["language", "probe_sentence"]),
        // Experts.
        "expert_ap": ("average precision of the unit as a concept detector", one, ["checkpoint", "language", "concept", "unit"]),
        "expert_on_p50": ("median pooled activation of the unit over the concept's positives", one, ["checkpoint", "language", "concept", "unit"]),
        "expert_on_p90": ("90th percentile pooled activation of the unit over the concept's positives", one, ["checkpoint", "language", "concept", "unit"]),
        "expert_off_mean": ("mean pooled activation of the unit over the concept's negatives", one, ["checkpoint", "language", "concept", "unit"]),
        "experts": ("expert unit (flat unit index) by rank", one, ["checkpoint", "language", "concept", "rank"]),
        "positives": ("positive sentences of the concept", one, ["checkpoint", "language", "concept"]),
        "pooled_mlp": ("pooled MLP activation per sentence and unit", one, ["checkpoint", "language", "sentence", "unit"]),
        "pooled_sentence_index": ("concept-pool sentence of the pooled row", one, ["checkpoint", "language", "sentence"]),
        "pooled_sentence_count": ("pooled sentences", one, ["checkpoint", "language"]),
        "concept_labels": ("concept label of the sentence (1 positive, 0 negative, -1 padding)", one, ["language", "sentence", "concept"]),
        "sentence_text": ("concept-pool sentence text", one, ["language", "sentence"]),
        // Alignment.
        "overlap": ("share of experts shared by the two languages", one, ["checkpoint", "concept", "language", "target_language"]),
        "chance_overlap": ("expected expert overlap by chance", one, ["checkpoint", "concept", "language", "target_language"]),
        "overlap_per_layer": ("share of experts shared by the two languages, per block", one, ["checkpoint", "concept", "block", "language", "target_language"]),
        "chance_overlap_per_layer": ("expected expert overlap by chance, per block", one, ["checkpoint", "concept", "block", "language", "target_language"]),
        "cross_ap": ("average precision of the language's experts on the target language's data", one, ["checkpoint", "concept", "language", "target_language"]),
        "cross_ap_baseline": ("average precision of random units on the target language's data", one, ["checkpoint", "concept", "language", "target_language"]),
        // LAPE.
        "activation_probability": ("probability that the unit is active on the language's tokens", one, ["checkpoint", "language", "unit"]),
        "language_specific": ("LAPE language-specific unit (1 selected)", one, ["checkpoint", "language", "unit"]),
        "language_specific_per_layer": ("LAPE language-specific units per block", one, ["checkpoint", "language", "block"]),
        "lape_thresholds": ("LAPE thresholds", one, ["checkpoint", "threshold"]),
        "count": ("number of languages", one, ["count"]),
        "language_count_histogram": ("units above LAPE's activation bar in `count` languages", one, ["checkpoint", "block", "count"]),
        // Generation.
        "generation_text": ("text generated with the concept's experts forced", one, ["checkpoint", "concept", "language", "sample"]),
        "generation_language": ("language identified in the generated text", one, ["checkpoint", "concept", "language", "sample"]),
        "generation_concept_present": ("concept word present in the generated text (1 yes)", one, ["checkpoint", "concept", "language", "sample"]),
        "control": ("control draw of random units", one, ["control"]),
        "control_units": ("random unit (flat unit index) matched to the experts", one, ["checkpoint", "concept", "language", "control", "rank"]),
        "control_generation_text": ("text generated with random matched units forced", one, ["checkpoint", "concept", "language", "control", "sample"]),
        "control_generation_language": ("language identified in the control's generated text", one, ["checkpoint", "concept", "language", "control", "sample"]),
        "control_generation_concept_present": ("concept word present in the control's generated text (1 yes)", one, ["checkpoint", "concept", "language", "control", "sample"]),
        "arm": ("what was forced: the experts, random matched units, or nothing", one, ["arm"]),
        "unforced_generation_text": ("text generated with nothing forced", one, ["checkpoint", "sample"]),
        "unforced_generation_language": ("language identified in the unforced generated text", one, ["checkpoint", "sample"]),
        "unforced_generation_concept_present": ("concept word present in the unforced generated text (1 yes)", one, ["checkpoint", "concept", "sample"]),
        "measure": ("share measured over the samples", one, ["measure"]),
        "bound": ("bound of the interval", one, ["bound"]),
        "generation_share": ("share of generated samples", one, ["checkpoint", "concept", "language", "arm", "measure"]),
        "generation_share_interval": ("95% bootstrap interval of the share of generated samples", one, ["checkpoint", "concept", "language", "arm", "measure", "bound"]),
        // Tasks and provenance.
        "task_kind": ("task kind", one, ["task"]),
        "task_started": ("task start time", "seconds since 1970-01-01 00:00:00", ["task"]),
        "task_seconds": ("task duration", "s", ["task"]),
        "task_host": ("node that ran the task", one, ["task"]),
        "task_worker": ("worker that ran the task", one, ["task"]),
        "task_attempt": ("attempt that produced the fragment", one, ["task"]),
        "task_cpu": ("kernel level of the worker's CPU", one, ["task"]),
        "task_peak_rss_bytes": ("peak resident memory of the worker while the task ran", "byte", ["task"]),
        "missing_task_failure": ("whose fault the missing task's failure was", one, ["missing_task"]),
        "missing_task_error": ("last failure of the missing task", one, ["missing_task"]),
        "virtual_source_sha256": ("SHA-256 of the fragment file recorded when it was written", one, ["virtual_source"]),
    ]
}
