"""Synthetic qwen3moe GGUF models: presets from a CI-sized `tiny` to the full Qwen3-30B-A3B shape,
deterministic per seed, with a Q4_K_M-like type mix and a tokenizer other readers accept."""

from backends.model.synth import cache  # noqa: F401
from backends.model.synth.cache import GENERATOR_VERSION, cached_model  # noqa: F401
from backends.model.synth.presets import PRESETS, Preset, q4_k_m_type, use_more_bits  # noqa: F401
from backends.model.synth.writer import tensor_plan, write_synthetic  # noqa: F401
