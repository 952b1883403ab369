#!/usr/bin/env python3
"""Train the bundled checkpoint series: a small BLOOM-architecture model on the sweep languages.

Usage: python3 tools/train_series.py [--out models/bundled] [--steps 3000]

Text: every verse of the 13 sweep languages in the offline Bible (tools/corpus.py) except the
held-out probe / language-ID verses (every 20th, as tools/build_data.py holds them out). A
byte-level BPE tokenizer (BLOOM's pre-tokenizer) is trained on it; the model (4 layers, width 128,
4 heads) is trained with AdamW on 128-token windows sampled uniformly over languages. Checkpoints
are saved in Hugging Face layout (config.json, tokenizer.json, fp16 model.safetensors) as
`global_stepN` at powers of four and a few linear steps; training.json records the loss curve,
data, versions and command. Pinned versions: tools/requirements.txt (torch 2.13.0+cpu).
"""
import argparse
import json
import math
import os
import random
import sqlite3
import sys
import time

import torch
import transformers

sys.path.insert(0, os.path.dirname(__file__))
import corpus  # noqa: E402
import lexicon  # noqa: E402
from make_fixtures import bloom_tokenizer  # noqa: E402

SAVE_AT = {1, 4, 16, 64, 256, 500, 1024, 1500, 2048, 3000}


def texts() -> dict:
    con = sqlite3.connect(corpus.bible_db())
    out = {}
    for lang in lexicon.LANGUAGES:
        code = next(k for k, v in corpus.TRANSLATIONS.items() if v == lang)
        rows = [r[0].strip() for r in con.execute(
            "SELECT vText FROM bible WHERE bbName = ? ORDER BY bNumber, cNumber, vNumber", (code,))]
        out[lang] = [t for i, t in enumerate(rows) if i % 20 != 7 and t]
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "models", "bundled"))
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.manual_seed(a.seed)
    random.seed(a.seed)
    torch.set_num_threads(os.cpu_count() or 2)
    data = texts()
    tok = bloom_tokenizer([t for lang in data for t in data[lang][::3]], vocab_size=a.vocab)
    streams = {}
    for lang, lines in data.items():
        ids = []
        for enc in tok.encode_batch(lines):
            ids += enc.ids + [2]
        streams[lang] = torch.tensor(ids, dtype=torch.long)
    config = transformers.BloomConfig(vocab_size=tok.get_vocab_size(), hidden_size=128, n_layer=4, n_head=4,
                                      bos_token_id=1, eos_token_id=2, pad_token_id=3)
    model = transformers.BloomForCausalLM(config)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = 100
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1, s / a.steps))))
    langs = sorted(streams)
    curve, started = [], time.time()
    os.makedirs(a.out, exist_ok=True)

    def save(step: int) -> None:
        d = os.path.join(a.out, f"global_step{step}")
        model.half().save_pretrained(d)
        model.float()
        tok.save(os.path.join(d, "tokenizer.json"))
        gen = os.path.join(d, "generation_config.json")
        if os.path.exists(gen):
            os.remove(gen)

    model.train()
    for step in range(1, a.steps + 1):
        batch = []
        for _ in range(a.batch):
            s = streams[random.choice(langs)]
            i = random.randrange(0, len(s) - a.context - 1)
            batch.append(s[i:i + a.context])
        x = torch.stack(batch)
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        if step % 25 == 0 or step == 1:
            curve.append({"step": step, "loss": round(loss.item(), 4), "seconds": round(time.time() - started, 1)})
            print(f"step {step} loss {loss.item():.3f} ({time.time() - started:.0f} s)", flush=True)
        if step in SAVE_AT:
            model.eval()
            save(step)
            model.train()
    with open(os.path.join(a.out, "training.json"), "w") as f:
        json.dump({"command": "python3 " + " ".join(sys.argv), "arguments": vars(a), "config": config.to_dict(),
                   "parameters": sum(p.numel() for p in model.parameters()),
                   "tokens_per_language": {l: len(s) for l, s in streams.items()},
                   "checkpoints": sorted(SAVE_AT), "loss_curve": curve, "seconds": round(time.time() - started, 1),
                   "torch": torch.__version__, "transformers": transformers.__version__}, f, indent=1)


if __name__ == "__main__":
    main()
