"""harness: executable contracts that turn into signed evidence about a Qwen3-MoE forward pass."""

__version__ = "0.1.0"
