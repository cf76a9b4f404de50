"""The `external` backend: any engine behind the protocol of docs/engine-protocol.md, started as
a subprocess (backend.py), its framing (wire.py), the process and its deadlines (process.py), the
engine side for Python engines (serve.py) and the reference engine (reference_engine.py)."""
