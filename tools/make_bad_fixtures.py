#!/usr/bin/env python3
"""Hostile and broken checkpoints for the error-path tests (Tests/Fixtures/bad/).

- evil-pickle/: a real `torch.save` zip whose pickle asks for `os.system` (posix.system) via
  __reduce__; loading it with torch.load(weights_only=False) would run `touch $MARKER`.
- evil-stack-global/: the same with protocol-4 STACK_GLOBAL naming `builtins.eval`.
The Swift reader must refuse both, naming the global, without running anything.
"""
import os
import pickle
import shutil
import sys

import torch

MARKER = "/tmp/xlsweep-pickle-executed"


class Evil:
    def __reduce__(self):
        return (os.system, (f"touch {MARKER}",))


class EvalCall:
    def __reduce__(self):
        return (eval, ("__import__('os').system('touch " + MARKER + "')",))


def main() -> None:
    out = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "bad")
    src = os.path.join(os.path.dirname(__file__), "..", "Tests", "Fixtures", "bloom-tiny")
    for name, payload, protocol in (("evil-pickle", Evil(), 2), ("evil-stack-global", EvalCall(), 4)):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        shutil.copy(os.path.join(src, "config.json"), d)
        state = {"transformer.word_embeddings.weight": torch.zeros(2, 2), "transformer.ln_f.weight": payload}
        torch.save(state, os.path.join(d, "pytorch_model.bin"), pickle_protocol=protocol)


if __name__ == "__main__":
    sys.exit(main())
