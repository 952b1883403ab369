#!/usr/bin/env python3
"""Build the tiny random-weight fixtures (BLOOM, XGLM, Llama, GPT-NeoX, OLMo-2) and their transformers reference outputs.

Usage: python3 tools/make_fixtures.py [--out Tests/Fixtures] [--only llama,gpt_neox,olmo2]

Writes, for each model, a Hugging Face layout directory (config.json, tokenizer.json, weights in
several file formats and dtypes) and `reference.safetensors` + `reference.json` with the outputs of
transformers on a few multilingual sentences: every hook site (see Tests/Fixtures/README.md),
last-position logits, a right-padded batch, greedy continuations, and a greedy continuation with
MLP units forced by a forward hook. Versions are pinned in tools/requirements.txt and recorded in
Tests/Fixtures/manifest.json with the sha256 of every file written.
"""
import argparse
import copy
import hashlib
import json
import os
import shutil
import tempfile

import torch
import transformers
import tokenizers
from safetensors.torch import save_file
from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

import corpus

LANGS = ["en", "es", "fr", "de", "zh", "ja", "ru", "ar", "hi", "sw", "vi", "id"]
PROMPTS = [
    "In the beginning God created the heaven and the earth.",
    "Au commencement, Dieu créa les cieux et la terre.",
    "初めに、神が天と地を創造した。",
    "В начале сотворил Бог небо и землю.",
    "في البدء خلق الله السموات والارض.",
]
GREEDY_NEW_TOKENS = 20
FORCE = {"layer": 1, "units": [3, 17, 40], "value": 2.5}


def training_text() -> list[str]:
    lines = []
    for lang in LANGS:
        lines += corpus.verses(lang, 0, 1500)
    return lines


def bloom_tokenizer(lines: list[str], vocab_size: int = 1500) -> Tokenizer:
    """Byte-level BPE with BLOOM's pre-tokenizer (its `Split` regex, then ByteLevel without regex)."""
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(" ?[^(\\s|[.,!?…。，、।۔،])]+"), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=False)
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(lines, trainer)
    return tok


def xglm_tokenizer(lines: list[str], workdir: str) -> Tokenizer:
    """XGLM's layout: a SentencePiece Unigram model with its precompiled nmt_nfkc charsmap, the
    `Replace(" {2,}")` normalizer, Metaspace, and the `</s> $A` post-processor (as in
    transformers' XGLMConverter)."""
    import sentencepiece as spm
    import sentencepiece.sentencepiece_model_pb2 as pb

    text = os.path.join(workdir, "train.txt")
    with open(text, "w") as f:
        f.write("\n".join(lines))
    spm.SentencePieceTrainer.train(input=text, model_prefix=os.path.join(workdir, "spm"), vocab_size=2500,
                                   model_type="unigram", character_coverage=0.995,
                                   normalization_rule_name="nmt_nfkc", minloglevel=2)
    proto = pb.ModelProto()
    with open(os.path.join(workdir, "spm.model"), "rb") as f:
        proto.ParseFromString(f.read())
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [(p.piece, p.score) for p in proto.pieces[3:]]
    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>"])
    tok.post_processor = processors.TemplateProcessing(single="</s> $A", pair="</s> $A </s> </s> $B",
                                                       special_tokens=[("</s>", 2)])
    return tok


# The split regex of Llama 3's, OLMo-2's (and GPT-4's cl100k) byte-level BPE tokenizers.
CL100K_SPLIT = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
                "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")


def llama2_tokenizer(lines: list[str], workdir: str) -> Tokenizer:
    """Llama 2's layout: SentencePiece BPE with byte fallback (<0x00>…<0xFF> in the vocabulary),
    the Prepend("▁") + Replace(" ", "▁") normalizer, no pre-tokenizer, and `<s> $A` (as
    transformers' LlamaConverter writes it)."""
    import sentencepiece as spm
    from transformers.convert_slow_tokenizer import SentencePieceExtractor

    text = os.path.join(workdir, "train.txt")
    with open(text, "w") as f:
        f.write("\n".join(lines))
    spm.SentencePieceTrainer.train(input=text, model_prefix=os.path.join(workdir, "llama"), vocab_size=1200,
                                   model_type="bpe", byte_fallback=True, character_coverage=0.99,
                                   normalization_rule_name="identity", add_dummy_prefix=True,
                                   split_digits=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)
    extracted = SentencePieceExtractor(os.path.join(workdir, "llama.model")).extract(models.BPE)
    tok = Tokenizer(models.BPE(extracted["vocab"], extracted["merges"], unk_token="<unk>", fuse_unk=True,
                               byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(content=" ", left=1)])
    tok.add_special_tokens(["<unk>", "<s>", "</s>"])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    return tok


def byte_level_tokenizer(lines: list[str], split: str | None, specials: list[str], bos: str | None,
                         vocab_size: int = 1500) -> Tokenizer:
    """Byte-level BPE: with `split`, a Split regex then ByteLevel without its own regex (Llama 3,
    OLMo-2); without, ByteLevel with GPT-2's regex (GPT-NeoX). `bos`: prepended by the post-processor."""
    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False))
    if split is None:
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(split), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
        ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(lines, trainer)
    if bos is None:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    else:
        tok.post_processor = processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                                           special_tokens=[(bos, tok.token_to_id(bos))])
    return tok


def randomize(model: torch.nn.Module, seed: int, weight_std: float = 0.15) -> None:
    """Weights of O(0.1) and non-trivial LayerNorm parameters, so outputs are far from uniform."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            noise = torch.randn(p.shape, generator=g)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            elif "embed" in name:
                p.copy_(0.15 * noise)
            else:
                p.copy_(weight_std * noise)


def site_modules(model, kind: str):
    """(layer index, block module, attention-output module, mlp-activation module, mlp-output module)."""
    if kind == "bloom":
        for i, b in enumerate(model.transformer.h):
            yield i, b, b.self_attention.dense, b.mlp.gelu_impl, b.mlp.dense_4h_to_h
    elif kind == "xglm":
        for i, b in enumerate(model.model.layers):
            yield i, b, b.self_attn.out_proj, None, b.fc2
    elif kind == "llama":
        for i, b in enumerate(model.model.layers):
            yield i, b, b.self_attn.o_proj, None, b.mlp.down_proj
    elif kind == "gpt_neox":
        for i, b in enumerate(model.gpt_neox.layers):
            yield i, b, b.attention.dense, b.mlp.act, b.mlp.dense_4h_to_h
    elif kind == "olmo2":
        # What each sub-layer adds to the residual stream: the outputs of the norms that follow it.
        for i, b in enumerate(model.model.layers):
            yield i, b, b.post_attention_layernorm, None, b.mlp.down_proj, b.post_feedforward_layernorm


def capture(model, kind: str, input_ids, attention_mask):
    """Run the model with hooks that record every TransformerLens-style site, plus hidden states."""
    records, handles = {}, []
    for i, block, attn, act, mlp_out, *after in site_modules(model, kind):
        handles.append(block.register_forward_pre_hook(
            lambda m, args, kw=None, i=i: records.__setitem__(f"blocks.{i}.resid_pre", args[0].detach().clone())))
        handles.append(block.register_forward_hook(
            lambda m, args, out, i=i: records.__setitem__(
                f"blocks.{i}.resid_post", (out[0] if isinstance(out, tuple) else out).detach().clone())))
        handles.append(attn.register_forward_hook(
            lambda m, args, out, i=i: records.__setitem__(f"blocks.{i}.attn_out", out.detach().clone())))
        if act is not None:
            handles.append(act.register_forward_hook(
                lambda m, args, out, i=i: records.__setitem__(f"blocks.{i}.mlp_post", out.detach().clone())))
        else:
            handles.append(mlp_out.register_forward_pre_hook(
                lambda m, args, i=i: records.__setitem__(f"blocks.{i}.mlp_post", args[0].detach().clone())))
        handles.append((after[0] if after else mlp_out).register_forward_hook(
            lambda m, args, out, i=i: records.__setitem__(f"blocks.{i}.mlp_out", out.detach().clone())))
    with torch.no_grad():
        out = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
    for h in handles:
        h.remove()
    for L, h in enumerate(out.hidden_states):
        records[f"hidden.{L}"] = h.detach().clone()
    records["logits"] = out.logits.detach().clone()
    return records


def force_hook(model, kind: str):
    """Forward hook that sets FORCE's units of `blocks.L.mlp_post` at every position."""
    _, _, _, act, mlp_out, *_ = list(site_modules(model, kind))[FORCE["layer"]]
    units = FORCE["units"]

    def set_units(t):
        t = t.clone()
        t[..., units] = FORCE["value"]
        return t
    if act is not None:
        return act.register_forward_hook(lambda m, args, out: set_units(out))
    return mlp_out.register_forward_pre_hook(lambda m, args: (set_units(args[0]),))


def greedy(model, ids: list[int], n: int) -> list[int]:
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             max_new_tokens=n, do_sample=False, pad_token_id=model.config.pad_token_id,
                             eos_token_id=None)
    return out[0, len(ids):].tolist()


def references(model, kind: str, tok: Tokenizer, directory: str) -> None:
    model.eval()
    encoded = [tok.encode(p).ids for p in PROMPTS]
    tensors, meta = {}, {"prompts": PROMPTS, "ids": encoded, "sequences": []}
    for n, ids in enumerate(encoded):
        rec = capture(model, kind, torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.long))
        for site, t in rec.items():
            if site == "logits":
                tensors[f"seq{n}.logits_last"] = t[0, -1].contiguous()
            else:
                tensors[f"seq{n}.{site}"] = t[0].contiguous()
        meta["sequences"].append({"greedy": greedy(model, ids, GREEDY_NEW_TOKENS)})
        h = force_hook(model, kind)
        meta["sequences"][-1]["greedy_forced"] = greedy(model, ids, GREEDY_NEW_TOKENS)
        h.remove()
    # A right-padded batch with an attention mask: each row must equal the sequence run alone.
    pad = model.config.pad_token_id
    width = max(len(i) for i in encoded)
    batch = torch.tensor([i + [pad] * (width - len(i)) for i in encoded])
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in encoded])
    rec = capture(model, kind, batch, mask)
    for site, t in rec.items():
        if site.startswith("hidden.") or site.endswith("mlp_post"):
            tensors[f"batch.{site}"] = t.contiguous()
    meta["batch_lengths"] = [len(i) for i in encoded]
    meta["force"] = FORCE
    meta["greedy_new_tokens"] = GREEDY_NEW_TOKENS
    save_file(tensors, os.path.join(directory, "reference.safetensors"))
    with open(os.path.join(directory, "reference.json"), "w") as f:
        json.dump(meta, f, ensure_ascii=False, indent=1)


def save_model(model, tok: Tokenizer, directory: str, dtype=torch.float32, shard: str | None = None,
               pytorch_bin: bool = False) -> None:
    os.makedirs(directory, exist_ok=True)
    m = copy.deepcopy(model).to(dtype)  # .to() is in place: never round the caller's weights
    if pytorch_bin:
        m.config.save_pretrained(directory)
        if shard:
            sd = m.state_dict()
            keys = sorted(sd)
            half = len(keys) // 2
            parts = [keys[:half], keys[half:]]
            weight_map = {}
            for n, part in enumerate(parts):
                name = f"pytorch_model-{n + 1:05d}-of-{len(parts):05d}.bin"
                torch.save({k: sd[k] for k in part}, os.path.join(directory, name))
                weight_map.update({k: name for k in part})
            with open(os.path.join(directory, "pytorch_model.bin.index.json"), "w") as f:
                json.dump({"metadata": {}, "weight_map": weight_map}, f, indent=1)
        else:
            torch.save(m.state_dict(), os.path.join(directory, "pytorch_model.bin"))
    else:
        m.save_pretrained(directory, max_shard_size=shard or "50GB")
    tok.save(os.path.join(directory, "tokenizer.json"))
    for extra in ("generation_config.json",):
        path = os.path.join(directory, extra)
        if os.path.exists(path):
            os.remove(path)


def build(kind: str, tok: Tokenizer, out: str) -> None:
    torch.manual_seed(0)
    if kind == "bloom":
        # 6 heads: not a power of two, so ALiBi's interleaved extra slopes are exercised.
        config = transformers.BloomConfig(vocab_size=tok.get_vocab_size(), hidden_size=48, n_layer=3, n_head=6,
                                          bos_token_id=1, eos_token_id=2, pad_token_id=3)
    else:
        config = transformers.XGLMConfig(vocab_size=tok.get_vocab_size(), d_model=64, ffn_dim=128, num_layers=2,
                                         attention_heads=4, max_position_embeddings=256, bos_token_id=0,
                                         pad_token_id=1, eos_token_id=2, scale_embedding=True)
    model = transformers.AutoModelForCausalLM.from_config(config)
    # XGLM's scaled embeddings dominate its residual stream at 0.15; larger weights give varied greedy text.
    randomize(model, seed=1 if kind == "bloom" else 2, weight_std=0.15 if kind == "bloom" else 0.3)
    model.eval()
    base = os.path.join(out, f"{kind}-tiny")
    save_model(model, tok, base)
    references(model, kind, tok, base)
    if kind == "bloom":
        save_model(model, tok, os.path.join(out, "bloom-tiny-bin"), pytorch_bin=True)
        save_model(model, tok, os.path.join(out, "bloom-tiny-sharded"), shard="200KB")
        save_model(model, tok, os.path.join(out, "bloom-tiny-bin-sharded"), pytorch_bin=True, shard="2")
        for name, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
            d = os.path.join(out, f"bloom-tiny-{name}")
            save_model(model, tok, d, dtype=dtype)
            # Reference: transformers loading the reduced-precision file and computing in fp32.
            upcast = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
            references(upcast, kind, tok, d)
        save_model(model, tok, os.path.join(out, "bloom-tiny-fp16-bin"), dtype=torch.float16, pytorch_bin=True)


# The new architectures' tiny shapes, each catching a layout mistake: head counts that are not
# powers of two, grouped-query ratios 1, 2 and 4, an explicit head_dim, partial rotary, both
# residual forms of GPT-NeoX, llama3 and linear RoPE scaling, attention biases, tied and untied heads.
def new_configs(kind: str, tok: Tokenizer) -> list[tuple[str, object]]:
    v = tok.get_vocab_size()
    ids = {name: tok.token_to_id(name) for name in ("<s>", "</s>", "<unk>", "<|endoftext|>", "<|pad|>")}
    if kind == "llama":
        return [
            ("llama-tiny", transformers.LlamaConfig(
                vocab_size=v, hidden_size=48, intermediate_size=96, num_hidden_layers=3, num_attention_heads=6,
                num_key_value_heads=3, max_position_embeddings=256, rms_norm_eps=1e-5, tie_word_embeddings=False,
                bos_token_id=1, eos_token_id=2, pad_token_id=0,
                rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 16})),
        ]
    if kind == "llama3":
        bos = ids["<|endoftext|>"]
        return [
            ("llama-tiny-gqa4", transformers.LlamaConfig(
                vocab_size=v, hidden_size=64, intermediate_size=80, num_hidden_layers=2, num_attention_heads=8,
                num_key_value_heads=2, head_dim=12, attention_bias=True, max_position_embeddings=256,
                rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=bos, eos_token_id=bos, pad_token_id=ids["<|pad|>"],
                rope_parameters={"rope_type": "linear", "rope_theta": 10000.0, "factor": 2.0})),
        ]
    if kind == "gpt_neox":
        eot = ids["<|endoftext|>"]
        return [
            ("gpt-neox-tiny", transformers.GPTNeoXConfig(
                vocab_size=v, hidden_size=96, intermediate_size=192, num_hidden_layers=3, num_attention_heads=6,
                rotary_pct=0.25, rotary_emb_base=10000, use_parallel_residual=True, max_position_embeddings=256,
                bos_token_id=eot, eos_token_id=eot, pad_token_id=ids["<|pad|>"], tie_word_embeddings=False)),
            ("gpt-neox-tiny-sequential", transformers.GPTNeoXConfig(
                vocab_size=v, hidden_size=64, intermediate_size=160, num_hidden_layers=2, num_attention_heads=4,
                rotary_pct=0.5, rotary_emb_base=10000, use_parallel_residual=False, max_position_embeddings=256,
                bos_token_id=eot, eos_token_id=eot, pad_token_id=ids["<|pad|>"], tie_word_embeddings=False)),
        ]
    eot = ids["<|endoftext|>"]
    return [
        ("olmo2-tiny", transformers.Olmo2Config(
            vocab_size=v, hidden_size=48, intermediate_size=96, num_hidden_layers=3, num_attention_heads=6,
            num_key_value_heads=6, max_position_embeddings=256, rms_norm_eps=1e-6, rope_theta=500000.0,
            tie_word_embeddings=False, bos_token_id=eot, eos_token_id=eot, pad_token_id=ids["<|pad|>"])),
    ]


def build_new(kind: str, tok: Tokenizer, out: str, seed: int) -> None:
    arch = "llama" if kind == "llama3" else kind
    for n, (name, config) in enumerate(new_configs(kind, tok)):
        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_config(config)
        randomize(model, seed=seed + n, weight_std=0.12)
        model.eval()
        base = os.path.join(out, name)
        save_model(model, tok, base)
        references(model, arch, tok, base)
        if name == "llama-tiny":
            d = os.path.join(out, "llama-tiny-bf16")
            save_model(model, tok, d, dtype=torch.bfloat16)
            upcast = transformers.AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32)
            references(upcast, arch, tok, d)


def manifest(out: str) -> None:
    files = {}
    for root, _, names in os.walk(out):
        for n in sorted(names):
            if n == "manifest.json" or n.endswith(".md"):
                continue
            p = os.path.join(root, n)
            with open(p, "rb") as f:
                files[os.path.relpath(p, out)] = hashlib.sha256(f.read()).hexdigest()
    info = {"generator": "tools/make_fixtures.py", "torch": torch.__version__,
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
            "files": dict(sorted(files.items()))}
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(info, f, indent=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures"))
    parser.add_argument("--only", default="bloom,xglm,llama,gpt_neox,olmo2",
                        help="comma list of families to (re)build; the manifest always covers every file")
    args = parser.parse_args()
    out = os.path.abspath(args.out)
    only = set(args.only.split(","))
    prefixes = {"bloom": ("bloom-tiny",), "xglm": ("xglm-tiny",), "llama": ("llama-tiny",),
                "gpt_neox": ("gpt-neox-tiny",), "olmo2": ("olmo2-tiny",)}
    for d in os.listdir(out) if os.path.isdir(out) else []:
        if any(d.startswith(p) for family in only for p in prefixes[family]):
            shutil.rmtree(os.path.join(out, d))
    os.makedirs(out, exist_ok=True)
    lines = training_text()
    if "bloom" in only:
        build("bloom", bloom_tokenizer(lines), out)
    with tempfile.TemporaryDirectory() as work:
        if "xglm" in only:
            build("xglm", xglm_tokenizer(lines, work), out)
        if "llama" in only:
            build_new("llama", llama2_tokenizer(lines, work), out, seed=11)
            build_new("llama3", byte_level_tokenizer(lines, CL100K_SPLIT, ["<|endoftext|>", "<|pad|>"], "<|endoftext|>"),
                      out, seed=21)
    if "gpt_neox" in only:
        build_new("gpt_neox", byte_level_tokenizer(lines, None, ["<|endoftext|>", "<|pad|>"], None), out, seed=31)
    if "olmo2" in only:
        build_new("olmo2", byte_level_tokenizer(lines, CL100K_SPLIT, ["<|endoftext|>", "<|pad|>"], None,
                                                vocab_size=1400), out, seed=41)
    manifest(out)


if __name__ == "__main__":
    main()
