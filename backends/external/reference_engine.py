"""The reference engine: our CPU backend behind the engine protocol, in a process of its own.

    python -m backends.external.reference_engine [--fault NAME]...

It is what the tests and contracts/examples/external-engine.yaml put under test, and the model
for a real engine's adapter. --fault plants a bug of backends.faults inside the engine, unseen
by the harness (a test shows the contract's falsifiers catch it); the mutation suite plants its
faults through the load request instead.
"""

from __future__ import annotations

import argparse
import platform

import numpy as np

from backends.cpu.backend import CpuBackend
from backends.external.serve import serve
from backends.model.gguf_model import open_model

ENGINE = {"name": "harness-reference-engine", "version": "1",
          "adapter": f"numpy on {platform.machine() or 'cpu'}", "vendor_id": None,
          "device_id": None, "backend_type": "numpy", "adapter_type": "CPU",
          "driver": f"numpy {np.__version__}", "is_cpu": True}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fault", action="append", default=[],
                        help="plant this backends.faults bug inside the engine")
    built_in = frozenset(parser.parse_args(argv).fault)

    def open_fn(path, act, faults, options):
        if options:
            raise ValueError(f"the reference engine takes no options, got {sorted(options)}")
        return CpuBackend(open_model(path), act=act, faults=built_in | faults)

    return serve(open_fn, {**ENGINE, "faults": sorted(built_in)} if built_in else ENGINE)


if __name__ == "__main__":
    raise SystemExit(main())
