"""The reference engine: our CPU backend behind the engine protocol, in a process of its own.

    python -m backends.external.reference_engine [--act fp32|q8k] [--fault NAME]...

It is what the tests and contracts/examples/external-engine.yaml put under test, and the model
for a real engine's adapter. --fault plants a bug of backends.faults inside the engine, unseen
by the harness (a test shows the contract's falsifiers catch it); the mutation suite plants its
faults through the load request instead. --act q8k serves the CPU reference's llama.cpp-style
activation path whatever the load request asks (the reference a llama.cpp cell is compared with).
"""

from __future__ import annotations

import argparse


from backends.cpu.backend import CpuBackend, driver_line, host_identity
from backends.cpu.matvec import ACTS
from backends.external.serve import serve
from backends.model.gguf_model import open_model

# the CPU reference's identity (its default matvecs: the compiled kernels for fp32)
ENGINE = {"name": "harness-reference-engine", "version": "1", **host_identity(driver_line("compiled"))}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fault", action="append", default=[], help="plant this backends.faults bug inside the engine")
    parser.add_argument("--act", choices=ACTS, help="activation path served (default: as asked)")
    args = parser.parse_args(argv)
    built_in = frozenset(args.fault)

    def open_fn(path, act, faults, options):
        if options:
            raise ValueError(f"the reference engine takes no options, got {sorted(options)}")
        return CpuBackend(open_model(path), act=args.act or act, faults=built_in | faults)

    engine = {**ENGINE, **({"faults": sorted(built_in)} if built_in else {}), **({"act": args.act} if args.act else {})}
    return serve(open_fn, engine)


if __name__ == "__main__":
    raise SystemExit(main())
