"""Builders of the norm kernels: shaders/rms_norm.wgsl and residual_rms_norm.wgsl."""

from __future__ import annotations

from backends.wgpu import tuning
from backends.wgpu.op import Op, build_op


def rms_norm_op(k, x, w, y, step, n: int, eps: float, name="rms_norm") -> Op:
    """y[t] = rms_norm(x[t]) * w for t < n_tok (shaders/rms_norm.wgsl)."""
    return build_op(
        k,
        name,
        "rms_norm",
        ("read", "read", "rw", "uniform"),
        (x, w, y, step),
        lambda t: (t, 1, 1),
        {"N": n, "EPS": eps, "WG": tuning.wide_wg(k.info)},
    )


def residual_norm_op(
    k, src, x, nw, y, step, n: int, eps: float, *, w=None, nsrc: int = 1, name="residual_rms_norm"
) -> Op:
    """x[t] += Σ_j w[t,j]·src[t,j] (w = 1 when None), then y = rms_norm(x)·nw
    (shaders/residual_rms_norm.wgsl)."""
    if n % 4:
        raise ValueError(f"residual_rms_norm: width {n} is not a multiple of 4 (vec4 rows)")
    consts = {
        "N": n,
        "NSRC": nsrc,
        "USE_W": w is not None,
        "EPS": eps,
        "WG": tuning.wide_wg(k.info, tuning.residual_norm_threads(n)),
    }
    layout = ("read", "read", "rw", "read", "rw", "uniform")
    return build_op(
        k,
        name,
        "residual_rms_norm",
        layout,
        (src, src if w is None else w, x, nw, y, step),
        lambda t: (t, 1, 1),
        consts,
    )
