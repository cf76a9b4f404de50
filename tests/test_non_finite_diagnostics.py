"""Issue 16 item 5: NaN/Inf produced by the weights are reported as NaN/Inf, where they first
appear, and never as router ids (2143289344 is the bit pattern of a float32 NaN)."""

from __future__ import annotations

import numpy as np

from backends.api import Trace
from harness.falsifiers.metrics import first_non_finite
from harness.falsifiers.parity_diag import router_mismatches

NAN_BITS_AS_ID = 2143289344


def _trace(L=2, T=3, H=4, k=2, E=4, V=5):
    probs = np.full((L, T, E), 1.0 / E, np.float32)
    return Trace(
        logits=np.zeros((T, V), np.float32),
        hidden_attn=np.zeros((L, T, H), np.float32),
        hidden=np.zeros((L, T, H), np.float32),
        router_ids=np.tile(np.arange(k, dtype=np.int32), (L, T, 1)),
        router_weights=np.full((L, T, k), 0.5, np.float32),
        router_probs=probs,
    )


def test_first_non_finite_names_the_array_layer_and_position():
    tr = _trace()
    assert first_non_finite(tr) is None
    tr.hidden[1, 2, 0] = np.inf
    tr.router_probs[1, 2, :] = np.nan
    tr.logits[2, :] = np.nan
    assert first_non_finite(tr) == {"array": "router_probs", "layer": 1, "position": 2}


def test_router_mismatches_report_nan_not_garbage_ids():
    ref, test = _trace(), _trace()
    test.router_probs[0, 1, :] = np.nan
    test.router_ids[0, 1, :] = NAN_BITS_AS_ID
    rows = router_mismatches(test, ref, "p")
    assert len(rows) == 1
    assert rows[0]["ids"] == "NaN/Inf router probabilities"
    assert rows[0]["ids_reference"] == [0, 1]
    assert str(NAN_BITS_AS_ID) not in str(rows)
