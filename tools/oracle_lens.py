"""The logit lens, recomputed for tools/oracle.py without any of xlsweep's code.

From the checkpoint's tokenizer.json (Hugging Face `tokenizers`), its safetensors weights (read
here, numpy only), the data set's probe sentences and the extract fragments' probe_hidden, this
recomputes per (checkpoint, language):

- token_language: every sweep language's probe text tokenized (special tokens left out); a token
  is a language's when at least attribution_share of its occurrences are in it and it occurs at
  least min_occurrences times;
- the extraction's probe tokens (the specified seeded Fisher-Yates sample of kept tokens) and the
  lens's sample of them (logit_lens_token), each token's next token in its sentence;
- logit_lens_mass and logit_lens_accuracy: hidden.L through the final norm (LayerNorm, RMSNorm, or
  Gemma's 1 + w RMSNorm; not for the last layer, already normed) and the head, softmax in float64.
"""
import json
import os
import struct

import h5py
import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64}


def read_safetensors(directory):
    """name -> float64 array, from every *.safetensors file of the directory."""
    out = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".safetensors") or name.startswith("reference"):
            continue
        raw = open(os.path.join(directory, name), "rb").read()
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8:8 + n])
        body = raw[8 + n:]
        for key, meta in header.items():
            if key == "__metadata__":
                continue
            start, end = meta["data_offsets"]
            if meta["dtype"] == "BF16":
                bits = np.frombuffer(body[start:end], dtype=np.uint16).astype(np.uint32) << 16
                values = bits.view(np.float32)
            else:
                values = np.frombuffer(body[start:end], dtype=DTYPES[meta["dtype"]])
            out[key] = values.astype(np.float64).reshape(meta["shape"])
    return out


def final_norm_and_head(directory):
    """(norm function, head matrix [vocab, d]) from config.json and the weights' names."""
    config = json.load(open(os.path.join(directory, "config.json")))
    config = config.get("text_config", config) if config.get("model_type") == "gemma3" else config
    kind = config.get("model_type")
    w = read_safetensors(directory)
    finals = {"ln_f", "layer_norm", "final_layer_norm", "norm"}

    def top_level(key, names):
        parts = key.split(".")
        return len(parts) >= 2 and parts[-2] in names and not any(p.isdigit() for p in parts)

    norm_w = next(w[k] for k in w if k.endswith(".weight") and top_level(k, finals))
    norm_b = next((w[k] for k in w if k.endswith(".bias") and top_level(k, finals)), None)
    head = next((w[k] for k in w if k in ("lm_head.weight", "embed_out.weight", "gpt_neox.embed_out.weight")), None)
    if head is None:
        head = next(w[k] for k in w if k.endswith(".weight") and top_level(k, {"word_embeddings", "embed_tokens"}))
    if kind in ("bloom", "xglm", "gpt_neox"):
        eps = float(config.get("layer_norm_epsilon", config.get("layer_norm_eps", 1e-5)))

        def norm(x):
            mu = x.mean(axis=-1, keepdims=True)
            var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
            return (x - mu) / np.sqrt(var + eps) * norm_w + (norm_b if norm_b is not None else 0)
    else:
        eps = float(config.get("rms_norm_eps", 1e-6))
        gain = 1 + norm_w if kind in ("gemma3", "gemma3_text") else norm_w

        def norm(x):
            return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + eps) * gain
    return norm, head


def sample(k, count, seed, SplitMix64):
    """The first k of a seeded Fisher-Yates shuffle of range(count), ascending."""
    rng = SplitMix64(seed)
    order = list(range(count))
    for i in range(count - 1, 0, -1):
        j = rng.next() % (i + 1)
        order[i], order[j] = order[j], order[i]
    return sorted(order[:k])


def check_lens(f, checks, ci, ck, languages, probe_texts, fragments, frag_dir, fragment_name, cfg, sweep_seed,
               SplitMix64, task_seed):
    from tokenizers import Tokenizer

    lens_cfg = cfg.get("logit_lens", {}) or {}
    lens_tokens = int(lens_cfg.get("tokens", 200))
    share = float(lens_cfg.get("attribution_share", 0.9))
    min_occ = int(lens_cfg.get("min_occurrences", 3))
    per_language = int((cfg.get("probe", {}) or {}).get("tokens_per_language", 10000))
    directory = f["checkpoint_directory"].asstr()[ci]
    source = f["checkpoint_tokenizer_source"].asstr()[ci]
    tokenizer_path = source if source.startswith("/") else os.path.join(directory, "tokenizer.json")
    tok = Tokenizer.from_file(tokenizer_path)
    special = {i for i, t in tok.get_added_tokens_decoder().items() if t.special}
    encoded = {lang: [tok.encode(t).ids for t in probe_texts[lang]] for lang in languages}
    norm, head = final_norm_and_head(directory)
    V, L = head.shape[0], len(languages)
    counts = np.zeros((V, L), dtype=np.int64)
    for j, lang in enumerate(languages):
        for ids in encoded[lang]:
            kept = [i for i in ids if i not in special and i < V]
            np.add.at(counts[:, j], kept, 1)
    total, best = counts.sum(axis=1), counts.max(axis=1)
    want_lang = np.where((total >= min_occ) & (best * 1_000_000 >= round(share * 1_000_000) * total),
                         counts.argmax(axis=1), -1)
    got_lang = f["token_language"][ci][:V]
    checks.true(f"token_language {ck}", np.array_equal(got_lang, want_lang),
                f"{int((got_lang != want_lang).sum())} of {V} tokens differ")
    members = [np.flatnonzero(want_lang == j) for j in range(L)]
    for li, lang in enumerate(languages):
        kept = [(s, p) for s, ids in enumerate(encoded[lang]) for p, i in enumerate(ids) if i not in special]
        probe = sample(min(per_language, len(kept)), len(kept), task_seed(sweep_seed, f"extract/{ck}/{lang}"), SplitMix64)
        ex = fragments[lang]
        ids_h5 = ex["probe"]["token_id"][:]
        checks.true(f"probe tokens {ck}/{lang}", np.array_equal(ids_h5, [encoded[lang][s][p] for s, p in (kept[i] for i in probe)]),
                    "the extraction's probe tokens are not the specified sample")
        chosen = sample(min(lens_tokens, len(probe)), len(probe), task_seed(sweep_seed, f"lens/{ck}/{lang}"), SplitMix64)
        got_tokens = f["logit_lens_token"][ci, li]
        checks.true(f"logit_lens_token {ck}/{lang}", np.array_equal(got_tokens[: len(chosen)], chosen)
                    and np.all(got_tokens[len(chosen):] == -1), f"sweep.h5 {got_tokens[:5].tolist()}…, recomputed {chosen[:5]}…")
        nxt = []
        for i in chosen:
            s, p = kept[probe[i]]
            nxt.append(encoded[lang][s][p + 1] if p + 1 < len(encoded[lang][s]) else -1)
        nxt = np.array(nxt)
        lens_fragment = h5py.File(os.path.join(frag_dir, fragment_name(f"lens/{ck}/{lang}")), "r")
        n = f["logit_lens_mass"].shape[2] - 1
        mass, accuracy = np.full((n + 1, L + 1), np.nan), np.full(n + 1, np.nan)
        for layer in range(n + 1):
            h = ex["probe"][f"hidden.{layer}"][:][chosen].astype(np.float64)
            logits = (h if layer == n else norm(h)) @ head.T
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            parts = [p[:, m].sum(axis=1) for m in members]
            mass[layer] = [x.mean() for x in parts] + [(1 - np.sum(parts, axis=0)).mean()]
            top = logits.argmax(axis=1)
            # The file's top-1 is the oracle's, but where two logits are within float32 rounding of each other.
            got_top = lens_fragment["top"][layer]
            ordered = np.sort(logits, axis=1)
            near_tie = (ordered[:, -1] - ordered[:, -2]) <= 1e-4 * np.maximum(1, np.abs(ordered[:, -1]))
            checks.true(f"lens top-1 {ck}/{lang}/layer {layer}", np.all((got_top == top) | near_tie),
                        f"{int(((got_top != top) & ~near_tie).sum())} tokens differ")
            scored = nxt >= 0
            if scored.any():
                accuracy[layer] = float((got_top[scored] == nxt[scored]).mean())
        checks.close(f"logit_lens_mass {ck}/{lang}", f["logit_lens_mass"][ci, li], mass, atol=2e-5, rtol=1e-4)
        checks.close(f"logit_lens_accuracy {ck}/{lang}", f["logit_lens_accuracy"][ci, li], accuracy, atol=1e-12)
