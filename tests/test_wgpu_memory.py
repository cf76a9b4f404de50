"""Device memory accounting: weights stay in their blocks (no expansion), and every allocation is
counted, split into weights and state (KV cache, scratch)."""

from __future__ import annotations

import pytest

from backends import open_backend

pytestmark = pytest.mark.gpu


def test_wgpu_memory_weights_are_uploaded_unexpanded(tiny_model):
    backend = open_backend("wgpu", tiny_model)
    file_bytes = sum(t.nbytes for t in tiny_model.tensors.values())
    # Q6_K blocks are padded 210 -> 212 B for 4-byte loads, so a little above 1, never f32-sized
    ratio = backend.weight_bytes() / file_bytes
    assert 1.0 <= ratio <= 1.02, f"weights on the device are {ratio:.4f}x the file's tensor bytes"


def test_wgpu_memory_total_covers_weights_and_kv_cache(tiny_model):
    backend = open_backend("wgpu", tiny_model)
    c = tiny_model.config
    kv = 4 * c.n_layer * c.context_length * c.n_head_kv * (c.head_dim + c.value_dim)
    assert backend.memory_bytes() >= backend.weight_bytes() + kv
