#!/usr/bin/env python3
"""PyTorch + transformers reference for `xlsweep bench forward`: the same BLOOM shape with random
weights (or --model DIR: that checkpoint's base model), the same batch, all hidden states, fp32 or
bf16 (--dtype), no output head.
Prints one JSON object: {"tokens_per_s", "seconds_per_batch", "torch", "transformers", "threads"}."""
import argparse
import json
import time

import torch
import transformers


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=24)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--vocab", type=int, default=250880)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--iterations", type=int, default=3)
    p.add_argument("--dtype", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--model", help="a checkpoint directory: its base model (no output head) instead of the BLOOM shape")
    a = p.parse_args()
    dtype = torch.float32 if a.dtype == "fp32" else torch.bfloat16
    if a.model:
        model = transformers.AutoModelForCausalLM.from_pretrained(a.model, dtype=dtype).base_model.eval()
        vocab = model.config.vocab_size
    else:
        config = transformers.BloomConfig(vocab_size=a.vocab, hidden_size=a.hidden, n_layer=a.layers, n_head=a.heads)
        model = transformers.BloomModel(config).to(dtype).eval()
        vocab = a.vocab
    ids = torch.randint(0, vocab, (a.batch, a.seq_len), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        model(input_ids=ids, attention_mask=mask, output_hidden_states=True)  # warm-up
        times = []
        for _ in range(a.iterations):
            t0 = time.perf_counter()
            model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            times.append(time.perf_counter() - t0)
    best = min(times)
    print(json.dumps({"tokens_per_s": a.batch * a.seq_len / best, "seconds_per_batch": best,
                      "torch": torch.__version__, "transformers": transformers.__version__,
                      "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
