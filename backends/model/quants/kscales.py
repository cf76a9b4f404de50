"""The 12-byte packed 6-bit scales and mins shared by Q4_K and Q5_K (get_scale_min_k4).

Eight sub-blocks j = 0..7, each with a 6-bit scale S_j and a 6-bit min M_j:

    byte  0..3   [S4..7 bits 4-5][S0..3 bits 0-5]      (2 | 6 bits)
    byte  4..7   [M4..7 bits 4-5][M0..3 bits 0-5]      (2 | 6 bits)
    byte  8..11  [M4..7 bits 0-3][S4..7 bits 0-3]      (4 | 4 bits)
"""

from __future__ import annotations

import numpy as np


def unpack_scale_min(packed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """uint8 (nb, 12) -> (scales, mins), each uint8 (nb, 8) in 0..63."""
    lo, hi, mix = packed[:, 0:4], packed[:, 4:8], packed[:, 8:12]
    sc = np.concatenate([lo & 0x3F, (mix & 0x0F) | ((lo >> 6) << 4)], axis=1)
    mn = np.concatenate([hi & 0x3F, (mix >> 4) | ((hi >> 6) << 4)], axis=1)
    return sc, mn


def pack_scale_min(sc: np.ndarray, mn: np.ndarray) -> np.ndarray:
    """Inverse of unpack_scale_min: (nb, 8) values in 0..63 each -> uint8 (nb, 12)."""
    sc = sc.astype(np.uint8)
    mn = mn.astype(np.uint8)
    lo = (sc[:, :4] & 0x3F) | ((sc[:, 4:] >> 4) << 6)
    hi = (mn[:, :4] & 0x3F) | ((mn[:, 4:] >> 4) << 6)
    mix = (sc[:, 4:] & 0x0F) | ((mn[:, 4:] & 0x0F) << 4)
    return np.concatenate([lo, hi, mix], axis=1)
