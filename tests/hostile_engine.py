"""An engine that misbehaves on purpose, for tests/test_external_*.py: the reference engine
(the CPU backend behind the protocol) with one fault of conduct, chosen by the first argument.

    python tests/hostile_engine.py MODE

Modes: nan (NaN in the logits), shape (logits one column short), crash (exits with code 3 on
prefill after writing to stderr), hang (prefill never answers), junk (a non-JSON line on stdout
at prefill), flood (a header line over the 1 MiB limit), hello-hang (hello never answers),
protocol2 (hello claims protocol 2), fallback (hello reports a CPU fallback), logits-only (no
optional capability), bad-ids (generate answers ids outside the vocabulary), cuda (hello claims
a CUDA device), stray-print (prints to stdout while serving: serve() must keep it off the
protocol).
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from backends.cpu.backend import CpuBackend
from backends.external import wire
from backends.external.reference_engine import ENGINE
from backends.external.serve import CAPABILITIES, serve
from backends.model.gguf_model import open_model


class Hostile(CpuBackend):
    mode = ""

    def prefill(self, tokens):
        out = super().prefill(tokens)
        if self.mode == "nan":
            out[-1, 3] = np.nan
        elif self.mode == "shape":
            out = out[:, :-1]
        elif self.mode == "crash":
            print("hostile engine: segfault imminent", file=sys.stderr, flush=True)
            os._exit(3)
        elif self.mode == "hang":
            time.sleep(3600)
        elif self.mode == "junk":
            os.write(1, b"loading kernels... done\n")
        elif self.mode == "flood":
            os.write(1, b"{" + b" " * (wire.MAX_LINE + 10) + b"}\n")
        elif self.mode == "stray-print":
            print("a stray print")
        return out

    def trace(self, tokens, prefill_len=None):
        tr = super().trace(tokens, prefill_len)
        if self.mode == "nan":
            tr.logits[0, 0] = np.nan
        return tr

    def generate(self, tokens, n, timings=None):
        ids = super().generate(tokens, n, timings)
        return [self.model.config.vocab_size + 5] * n if self.mode == "bad-ids" else ids


def main() -> int:
    mode = sys.argv[1]
    Hostile.mode = mode
    engine = dict(ENGINE)
    if mode == "hello-hang":
        time.sleep(3600)
    if mode == "protocol2":
        sys.stdin.buffer.readline()
        sys.stdout.buffer.write(wire.encode({"ok": True, "protocol": 2, "engine": engine}))
        sys.stdout.buffer.flush()
        time.sleep(3600)
    if mode == "fallback":
        engine.update(fallback=True)
    if mode == "cuda":
        engine.update(backend_type="CUDA", adapter_type="DiscreteGPU", adapter="Fake GPU")
    caps = () if mode == "logits-only" else CAPABILITIES
    return serve(lambda path, act, faults, options: Hostile(open_model(path), act=act, faults=faults), engine, caps)


if __name__ == "__main__":
    raise SystemExit(main())
