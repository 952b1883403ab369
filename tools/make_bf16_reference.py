#!/usr/bin/env python3
"""transformers' bf16 outputs for the bf16 parity tests: the tiny BLOOM (stored bf16 and fp16), XGLM,
Llama, GPT-NeoX and OLMo-2 fixtures run with `torch_dtype=torch.bfloat16` on the fixture prompts; every hidden state and the
last-position logits, widened to fp32, in `<fixture>/reference-bf16.safetensors`.

Usage: python3 tools/make_bf16_reference.py [--fixtures Tests/Fixtures]
"""
import argparse
import hashlib
import json
import os

import torch
import transformers
from safetensors.torch import save_file


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--fixtures", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures"))
    p.add_argument("--only", default="bloom-tiny-bf16,bloom-tiny-fp16,xglm-tiny,llama-tiny-bf16,llama-tiny-gqa4,"
                   "gpt-neox-tiny,gpt-neox-tiny-sequential,olmo2-tiny", help="comma list of fixtures")
    a = p.parse_args()
    torch.manual_seed(0)
    for name in a.only.split(","):
        directory = os.path.join(a.fixtures, name)
        with open(os.path.join(directory, "reference.json")) as f:
            meta = json.load(f)
        model = transformers.AutoModelForCausalLM.from_pretrained(directory, dtype=torch.bfloat16).eval()
        out = {}
        with torch.inference_mode():
            for n, ids in enumerate(meta["ids"]):
                r = model(input_ids=torch.tensor([ids]), output_hidden_states=True)
                for layer, h in enumerate(r.hidden_states):
                    out[f"seq{n}.hidden.{layer}"] = h[0].float().contiguous()
                out[f"seq{n}.logits_last"] = r.logits[0, -1].float().contiguous()
        path = os.path.join(directory, "reference-bf16.safetensors")
        save_file(out, path, metadata={"torch": torch.__version__, "transformers": transformers.__version__, "dtype": "bfloat16"})
        # Recorded beside the other fixtures' hashes (Tests/Fixtures/manifest.json).
        manifest_path = os.path.join(a.fixtures, "manifest.json")
        with open(manifest_path) as f:
            manifest = json.load(f)
        with open(path, "rb") as f:
            manifest["files"][f"{name}/reference-bf16.safetensors"] = hashlib.sha256(f.read()).hexdigest()
        manifest["files"] = dict(sorted(manifest["files"].items()))
        with open(manifest_path, "w") as f:
            json.dump(manifest, f, indent=1)
        print(name, len(out), "tensors")


if __name__ == "__main__":
    main()
