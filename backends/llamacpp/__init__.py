"""The llama.cpp adapter: llama-cpp-python behind the engine protocol (engine.py, a process of
its own), opened as `backend: llama-cpp` (backend.py). Optional extra: pip install 'harness[llama-cpp]'."""
