"""Qwen3-MoE hyperparameters read from a GGUF file's `qwen3moe.*` metadata (docs/reference.md §2).

Every field comes from the file. Two may be derived when their key is absent, and the config
records which were: `n_ff_exp` (from the ffn_gate_exps shape; HF's exporter sometimes omits
expert_feed_forward_length) and `vocab_size` (from the token_embd rows, as llama.cpp does).
Nothing else has a default: a missing key raises ModelFormatError naming the key.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

from backends.model.errors import ModelFormatError

ARCH = "qwen3moe"

# config field -> metadata key (without the "qwen3moe." prefix); all required.
_REQUIRED = {
    "n_layer": "block_count",
    "n_embd": "embedding_length",
    "n_head": "attention.head_count",
    "n_head_kv": "attention.head_count_kv",
    "head_dim": "attention.key_length",
    "value_dim": "attention.value_length",
    "n_expert": "expert_count",
    "n_expert_used": "expert_used_count",
    "context_length": "context_length",
    "rms_eps": "attention.layer_norm_rms_epsilon",
    "rope_theta": "rope.freq_base",
}
_FLOAT_FIELDS = ("rms_eps", "rope_theta")


@dataclass(frozen=True)
class ModelConfig:
    """Hyperparameters of one qwen3moe file. Shapes below are numpy order (rows, cols)."""

    arch: str
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    value_dim: int
    n_expert: int
    n_expert_used: int
    n_ff_exp: int
    vocab_size: int
    context_length: int
    rms_eps: float
    rope_theta: float
    tied_output: bool
    derived: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for reports (derived as a list)."""
        out = asdict(self)
        out["derived"] = list(self.derived)
        return out

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        """Numpy-order shape of every tensor a qwen3moe file of this config must hold."""
        H, V, E, I = self.n_embd, self.vocab_size, self.n_expert, self.n_ff_exp
        q, kv, hd = self.n_head * self.head_dim, self.n_head_kv * self.head_dim, self.head_dim
        vv = self.n_head_kv * self.value_dim
        shapes = {"token_embd.weight": (V, H), "output_norm.weight": (H,)}
        if not self.tied_output:
            shapes["output.weight"] = (V, H)
        for i in range(self.n_layer):
            p = f"blk.{i}."
            shapes.update(
                {
                    p + "attn_norm.weight": (H,),
                    p + "attn_q.weight": (q, H),
                    p + "attn_k.weight": (kv, H),
                    p + "attn_v.weight": (vv, H),
                    p + "attn_output.weight": (H, self.n_head * self.value_dim),
                    p + "attn_q_norm.weight": (hd,),
                    p + "attn_k_norm.weight": (hd,),
                    p + "ffn_norm.weight": (H,),
                    p + "ffn_gate_inp.weight": (E, H),
                    p + "ffn_gate_exps.weight": (E, I, H),
                    p + "ffn_up_exps.weight": (E, I, H),
                    p + "ffn_down_exps.weight": (E, H, I),
                }
            )
        return shapes


def config_from_metadata(
    get: Callable[[str], Any], tensor_shapes: Mapping[str, tuple[int, ...]], source: str
) -> ModelConfig:
    """Build a ModelConfig.

    get(key) returns a metadata value or None when the key is absent; tensor_shapes maps tensor
    names to numpy-order shapes (used only for the two derivable fields and tied_output);
    source names the file in error messages.
    """
    arch = get("general.architecture")
    if arch is None:
        raise ModelFormatError(f"{source}: missing required metadata key general.architecture")
    if arch != ARCH:
        raise ModelFormatError(f"{source}: architecture {arch!r} is not supported (expected {ARCH!r})")
    values: dict[str, Any] = {}
    for name, key in _REQUIRED.items():
        value = get(f"{ARCH}.{key}")
        if value is None:
            raise ModelFormatError(f"{source}: missing required metadata key {ARCH}.{key}")
        values[name] = float(value) if name in _FLOAT_FIELDS else int(value)
    derived = []
    values["n_ff_exp"] = _n_ff_exp(get, tensor_shapes, source, derived)
    values["vocab_size"] = _vocab_size(get, tensor_shapes, source, derived)
    _check_positive(values, source)
    return ModelConfig(arch=arch, tied_output="output.weight" not in tensor_shapes, derived=tuple(derived), **values)


def _key_or_shape(
    get, tensor_shapes, source, derived, *, key: str, field: str, tensor: str, ndim: int, axis: int
) -> int:
    """The metadata key's value, else the size of `tensor` along `axis` (recorded as derived)."""
    value = get(f"{ARCH}.{key}")
    if value is not None:
        return int(value)
    shape = tensor_shapes.get(tensor)
    if shape is None or len(shape) != ndim:
        raise ModelFormatError(
            f"{source}: missing metadata key {ARCH}.{key} and no {ndim}-D {tensor} to derive it from"
        )
    derived.append(field)
    return int(shape[axis])


def _n_ff_exp(get, tensor_shapes, source, derived) -> int:
    return _key_or_shape(
        get,
        tensor_shapes,
        source,
        derived,
        key="expert_feed_forward_length",
        field="n_ff_exp",
        tensor="blk.0.ffn_gate_exps.weight",
        ndim=3,
        axis=1,
    )


def _vocab_size(get, tensor_shapes, source, derived) -> int:
    return _key_or_shape(
        get,
        tensor_shapes,
        source,
        derived,
        key="vocab_size",
        field="vocab_size",
        tensor="token_embd.weight",
        ndim=2,
        axis=0,
    )


def _check_positive(values: dict[str, Any], source: str) -> None:
    for name, value in values.items():
        if not value > 0:
            key = f"{ARCH}.{_REQUIRED.get(name, name)}"
            raise ModelFormatError(f"{source}: {key} = {value} must be positive")
    if values["n_head"] % values["n_head_kv"]:
        raise ModelFormatError(
            f"{source}: attention.head_count {values['n_head']} is not a "
            f"multiple of attention.head_count_kv {values['n_head_kv']}"
        )
    if values["n_expert_used"] > values["n_expert"]:
        raise ModelFormatError(
            f"{source}: expert_used_count {values['n_expert_used']} exceeds expert_count {values['n_expert']}"
        )
