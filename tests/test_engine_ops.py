"""op_parity's implementations on the CPU: the float64 equations agree with backends.cpu on the
tiny model, and are independent enough to catch a planted router bug."""

import numpy as np
import pytest

from backends.cpu import ops as cpu_ops
from backends.model import quants
from harness.falsifiers.metrics import nmse
from harness.falsifiers.op_impls import Case, cpu_route, implementation
from harness.falsifiers.op_parity import _matvec_case
from harness.falsifiers.registry import JobError


def cases(model, n=2):
    rng = np.random.default_rng(3)
    for layer in range(model.config.n_layer):
        for _ in range(n):
            h = rng.standard_normal(model.config.n_embd).astype(np.float32)
            yield Case(model, layer, h, cpu_route(model, layer, h)[0])


@pytest.mark.parametrize("op", ["router", "expert_swiglu", "moe_ffn"])
def test_op_impls_f64_matches_cpu_on_tiny(tiny_model, op):
    cpu, f64 = implementation(op, "cpu"), implementation(op, "f64")
    worst = max(nmse(cpu(c), f64(c)) for c in cases(tiny_model))
    # f32 accumulation against f64 over a few hundred terms: ~1e-13; a wrong formula is >1e-3
    assert worst < 1e-10


def test_op_impls_f64_router_catches_missing_renormalisation(tiny_model):
    f64 = implementation("router", "f64")
    c = next(cases(tiny_model))
    ids, w, _ = cpu_ops.route(
        cpu_ops.matvec(tiny_model, f"blk.{c.layer}.ffn_gate_inp.weight", c.h),
        tiny_model.config.n_expert_used,
        renormalise=False,
    )
    dense = np.zeros(tiny_model.config.n_expert)
    dense[ids] = w
    assert nmse(dense, f64(c)) > 1e-3


@pytest.mark.parametrize("qtype", ["F32", "Q8_0", "Q4_K", "Q6_K"])
def test_op_impls_matvec_cpu_matches_f64(qtype):
    case = _matvec_case(qtype, 16, 256, np.random.default_rng(0))
    got = implementation("matvec", "cpu")(case)
    want = implementation("matvec", "f64")(case)
    assert got.shape == (16,) and nmse(got, want) < 1e-10


def test_op_impls_unknown_pair_is_a_job_error():
    with pytest.raises(JobError, match="no f64 implementation of op 'attention'"):
        implementation("attention", "f64")


class _KernelBackend:
    """A backend whose op_kernels() matvec is the codecs' dequantize (times `scale`)."""

    name = "fake"

    def __init__(self, scale=1.0):
        self.scale = scale

    def op_kernels(self):
        def matvec(name, qtype, raw, cols, x):
            return self.scale * (quants.dequantize(qtype, raw).astype(np.float64) @ x)

        return {"matvec": matvec}


def test_op_impls_wgpu_side_is_the_backends_own_kernel():
    case = _matvec_case("Q4_K", 16, 256, np.random.default_rng(1))
    want = implementation("matvec", "f64")(case)
    assert nmse(implementation("matvec", "wgpu", _KernelBackend())(case), want) < 1e-12
    # a planted 1% gain in the backend's kernel is what op parity sees
    assert nmse(implementation("matvec", "wgpu", _KernelBackend(1.01))(case), want) > 5e-5


def test_op_impls_backend_without_the_kernel_is_a_job_error():
    with pytest.raises(JobError, match="offers no op_kernels"):
        implementation("matvec", "wgpu", object())
    with pytest.raises(JobError, match="no kernel for op 'router'"):
        implementation("router", "wgpu", _KernelBackend())
    with pytest.raises(JobError, match="needs the cell's backend"):
        implementation("matvec", "wgpu")
