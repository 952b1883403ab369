#!/usr/bin/env python3
"""Write a random-weight checkpoint of any Hugging Face config as sharded safetensors, streaming
tensor by tensor so memory stays at one chunk (a BLOOM-7b1-shaped bf16 checkpoint, 14 GB, needs
well under 1 GB of RAM).

Usage:
  python3 tools/make_random_checkpoint.py --preset bloom-7b1 --out /tmp/bloom-7b1-random \
      [--dtype bf16] [--shard-size 2GB] [--seed 0] [--tokenizer Tests/Fixtures/bloom-tiny/tokenizer.json]
  python3 tools/make_random_checkpoint.py --config path/to/config.json --out DIR

Tensor names and shapes come from transformers: the model is built on the `meta` device (no
memory), and a head tied to the input embeddings is not stored (as `save_pretrained` does).
Values follow transformers' `_init_weights`: matrices and embeddings N(0, initializer_range),
1-D weights (norm gains) 1, biases 0; each tensor from its own generator seeded by (seed, name),
so the bytes do not depend on the shard size.
"""
import argparse
import hashlib
import json
import os
import shutil
import struct
import sys

import numpy as np

PRESETS = {
    # bigscience/bloom-7b1's config.json (the fields the architecture reads).
    "bloom-7b1": {"model_type": "bloom", "architectures": ["BloomForCausalLM"], "vocab_size": 250880,
                  "hidden_size": 4096, "n_layer": 30, "n_head": 32, "layer_norm_epsilon": 1e-5,
                  "initializer_range": 0.02, "apply_residual_connection_post_layernorm": False,
                  "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 3, "tie_word_embeddings": True},
    "bloom-560m": {"model_type": "bloom", "architectures": ["BloomForCausalLM"], "vocab_size": 250880,
                   "hidden_size": 1024, "n_layer": 24, "n_head": 16, "layer_norm_epsilon": 1e-5,
                   "initializer_range": 0.02, "apply_residual_connection_post_layernorm": False,
                   "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 3, "tie_word_embeddings": True},
    # EleutherAI/pythia-160m's config.json (GPT-NeoX: partial rotary, parallel residual, untied head).
    "pythia-160m": {"model_type": "gpt_neox", "architectures": ["GPTNeoXForCausalLM"], "vocab_size": 50304,
                    "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072,
                    "rotary_pct": 0.25, "rotary_emb_base": 10000, "use_parallel_residual": True, "hidden_act": "gelu",
                    "layer_norm_eps": 1e-5, "max_position_embeddings": 2048, "initializer_range": 0.02,
                    "bos_token_id": 0, "eos_token_id": 0, "tie_word_embeddings": False},
    # TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T's config.json (Llama: GQA 32/4, SwiGLU).
    "tinyllama-1.1b": {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "vocab_size": 32000,
                       "hidden_size": 2048, "num_hidden_layers": 22, "num_attention_heads": 32, "num_key_value_heads": 4,
                       "intermediate_size": 5632, "hidden_act": "silu", "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
                       "max_position_embeddings": 2048, "initializer_range": 0.02, "bos_token_id": 1, "eos_token_id": 2,
                       "tie_word_embeddings": False},
}
DTYPES = {"bf16": ("BF16", 2), "fp16": ("F16", 2), "fp32": ("F32", 4)}
CHUNK = 1 << 24  # values generated at a time


def parse_size(text: str) -> int:
    units = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    t = text.strip().upper()
    for unit, factor in units.items():
        if t.endswith(unit):
            return int(float(t[: -len(unit)]) * factor)
    return int(t)


def tensor_specs(config: dict) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every stored tensor, in the model's state-dict order."""
    import torch
    import transformers

    cfg = transformers.AutoConfig.for_model(**config)
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(cfg)
    tied = set()
    out_emb, in_emb = model.get_output_embeddings(), model.get_input_embeddings()
    if out_emb is not None and in_emb is not None and out_emb.weight is in_emb.weight:
        tied = {n for n, p in model.named_parameters(remove_duplicate=False) if p is out_emb.weight}
        tied.discard(next(n for n, p in model.named_parameters() if p is in_emb.weight))
    return [(n, tuple(t.shape)) for n, t in model.state_dict().items() if n not in tied]


def values(name: str, shape: tuple[int, ...], seed: int, std: float, dtype: str):
    """Yields the tensor's bytes chunk by chunk."""
    count = int(np.prod(shape)) if shape else 1
    fill = None                                     # matrices, embeddings: N(0, std)
    if len(shape) <= 1:
        fill = 1.0 if name.endswith(".weight") else 0.0  # norm gains 1; biases (and other vectors) 0
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(digest[:8], "little")))
    for start in range(0, count, CHUNK):
        n = min(CHUNK, count - start)
        x = np.full(n, fill, dtype=np.float32) if fill is not None else (rng.standard_normal(n, dtype=np.float32) * std)
        if dtype == "bf16":
            u = x.view(np.uint32)
            yield ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype("<u2").tobytes()
        elif dtype == "fp16":
            yield x.astype("<f2").tobytes()
        else:
            yield x.astype("<f4").tobytes()


def write_shard(path: str, specs, config: dict, seed: int, dtype: str) -> None:
    tag, size = DTYPES[dtype]
    header, offset = {"__metadata__": {"format": "pt", "generator": "xlsweep tools/make_random_checkpoint.py"}}, 0
    for name, shape in specs:
        nbytes = int(np.prod(shape)) * size if shape else size
        header[name] = {"dtype": tag, "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    std = float(config.get("initializer_range", 0.02))
    with open(path + ".partial", "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for name, shape in specs:
            for chunk in values(name, shape, seed, std, dtype):
                f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".partial", path)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", choices=sorted(PRESETS))
    src.add_argument("--config", help="a Hugging Face config.json")
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", default="bf16", choices=sorted(DTYPES))
    p.add_argument("--shard-size", default="2GB", help="largest shard before a new one starts (e.g. 2GB, 500MB)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tokenizer", help="tokenizer.json to copy beside the weights")
    a = p.parse_args()

    if a.preset:
        config = dict(PRESETS[a.preset])
    else:
        try:
            with open(a.config) as f:
                config = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            sys.exit(f"make_random_checkpoint: {a.config}: {e}")
    if "model_type" not in config:
        sys.exit(f"make_random_checkpoint: {a.config or a.preset}: no model_type")
    config["torch_dtype"] = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}[a.dtype]
    limit = parse_size(a.shard_size)
    specs = tensor_specs({k: v for k, v in config.items() if k not in ("architectures", "torch_dtype")})
    _, size = DTYPES[a.dtype]

    shards, current, used = [], [], 0
    for name, shape in specs:
        nbytes = int(np.prod(shape)) * size
        if current and used + nbytes > limit:
            shards.append(current)
            current, used = [], 0
        current.append((name, shape))
        used += nbytes
    shards.append(current)

    os.makedirs(a.out, exist_ok=True)
    total, weight_map = 0, {}
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" if len(shards) > 1 else "model.safetensors"
        write_shard(os.path.join(a.out, file), shard, config, a.seed, a.dtype)
        for name, shape in shard:
            weight_map[name] = file
            total += int(np.prod(shape)) * size
        print(f"{file}: {len(shard)} tensors", flush=True)
    if len(shards) > 1:
        with open(os.path.join(a.out, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=1, sort_keys=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(config, f, indent=1, sort_keys=True)
    if a.tokenizer:
        shutil.copyfile(a.tokenizer, os.path.join(a.out, "tokenizer.json"))
    print(f"{a.out}: {len(specs)} tensors, {total / 1e9:.2f} GB {a.dtype} in {len(shards)} shard(s)")


if __name__ == "__main__":
    main()
