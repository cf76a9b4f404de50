"""`backend: llama-cpp`: the external backend with llama.cpp's engine (backends.llamacpp.engine)
as its command; the cell's engine.options are handed to it. Present when llama-cpp-python is
installed (the optional extra `llama-cpp`)."""

from __future__ import annotations

import importlib.util
import json
import sys

from backends.external.backend import ExternalBackend

INSTALL_HINT = (
    "llama-cpp-python is not installed here (pip install 'harness[llama-cpp]'; "
    'a CUDA/Metal/Vulkan build: CMAKE_ARGS="-DGGML_CUDA=on" and the like)'
)


def missing(engine: dict) -> str:
    return "" if importlib.util.find_spec("llama_cpp") is not None else INSTALL_HINT


class LlamaCppBackend(ExternalBackend):
    name = "llama-cpp"

    def __init__(self, model, *, device=None, act="fp32", faults=frozenset(), engine=None):
        engine = dict(engine or {})
        options = json.dumps(engine.pop("options", None) or {})
        command = [sys.executable, "-m", "backends.llamacpp.engine", "--options", options]
        super().__init__(model, device=device, act=act, faults=faults, engine={**engine, "command": command})
