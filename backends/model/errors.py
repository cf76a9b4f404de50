"""Errors about input models (as opposed to backend failures)."""


class ModelFormatError(ValueError):
    """The GGUF file is malformed, truncated, of the wrong architecture or missing a key.
    The message names the file and the tensor or key at fault."""


class UnsupportedQuantType(ModelFormatError):
    """A tensor uses a GGML type this project does not decode; names the tensor and the type."""
