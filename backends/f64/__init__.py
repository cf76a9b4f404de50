"""The float64 reference backend ("f64"): an independent Qwen3-MoE forward.

Written apart from the CPU reference (backends/cpu) on purpose: it reads the file with gguf-py's
GGUFReader and dequantizes with gguf-py's own codecs (gguf.quants.dequantize, not
backends.model.quants), takes every hyperparameter straight from the file's metadata (not
backends.model.config), and re-derives the maths from docs/reference.md §1. A bug shared by the CPU
reference and the wgpu backend therefore does not hide here.
"""
