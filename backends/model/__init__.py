"""The model layer: GGUF reading, hyperparameters, block codecs and synthetic models.

Everything the backends share about a model file lives here. It imports nothing from the
backends that use it, nor from `harness`: callers pass in what it needs (a cache directory).
"""
