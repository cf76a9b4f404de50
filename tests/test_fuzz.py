"""Property-based fuzzing (hypothesis) of the three readers that take files from outside: the
contract loader, the GGUF header reader and the report/envelope reader (issue 16).

Random mutations of valid files must never raise anything but the project's own input errors,
never hang (hypothesis' deadline is the hang guard), and never allocate past MEMORY_LIMIT
(tracemalloc peak per example). The runs are derandomised and small so CI spends a few seconds
per target; HARNESS_FUZZ_EXAMPLES=N explores N examples per target instead.
"""

from __future__ import annotations

import json
import os
import tempfile
import tracemalloc
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import gguf
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="needs the [test] extra (hypothesis)")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from backends.model.errors import ModelFormatError  # noqa: E402
from backends.model.gguf_model import open_model  # noqa: E402
from harness.contract.loader import check_file  # noqa: E402
from harness.trust import keys  # noqa: E402
from harness.trust.audit import AuditOptions, AuditResult, audit  # noqa: E402
from harness.trust.errors import TrustError  # noqa: E402
from harness.trust.report_file import envelope_bytes, open_report  # noqa: E402
from harness.trust.statement import build_statement  # noqa: E402
from tests import trust_factory as tf  # noqa: E402
from tests.test_gguf_model import write_variant  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT / "contracts" / "qwen3-moe-forward-v1.yaml"
MEMORY_LIMIT = 256 << 20
EXAMPLES = int(os.environ.get("HARNESS_FUZZ_EXAMPLES", "0")) or None


def fuzz_settings(examples: int):
    return settings(
        max_examples=EXAMPLES or examples,
        deadline=timedelta(seconds=20),
        derandomize=EXAMPLES is None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@contextmanager
def bounded_memory():
    tracemalloc.start()
    try:
        yield
        _, peak = tracemalloc.get_traced_memory()
        assert peak < MEMORY_LIMIT, f"peak {peak} bytes"
    finally:
        tracemalloc.stop()


def _scratch(data: bytes, suffix: str) -> Path:
    handle = tempfile.NamedTemporaryFile(suffix=suffix, delete=False)
    with handle:
        handle.write(data)
    return Path(handle.name)


# -- byte mutations shared by the targets ----------------------------------------------------
YAML_BYTES = b"[]{}&*!:-#'\"\n |>%@`,?0123456789abcxyz.\t\\"


def mutations(alphabet: bytes | None = None, max_edits: int = 6):
    byte = st.sampled_from(list(alphabet)) if alphabet else st.integers(0, 255)
    edit = st.tuples(
        st.sampled_from(("replace", "insert", "delete", "repeat")),
        st.floats(0, 1, allow_nan=False),
        byte,
        st.integers(1, 4000),
    )
    return st.lists(edit, min_size=1, max_size=max_edits)


def mutate(data: bytes, edits, region: int | None = None) -> bytes:
    out = bytearray(data)
    for kind, where, value, n in edits:
        span = min(len(out), region or len(out))
        i = int(where * max(span - 1, 0))
        if kind == "replace" and out:
            out[i] = value
        elif kind == "insert":
            out[i:i] = bytes([value]) * (n % 64 + 1)
        elif kind == "delete":
            del out[i : i + n % 64 + 1]
        else:  # repeat a slice: nesting, aliases, duplicate keys
            out[i:i] = bytes(out[i : i + n % 200]) * (n % 20 + 1)
    return bytes(out)


# -- contract loader -------------------------------------------------------------------------
CONTRACT_BYTES = CONTRACT.read_bytes()


@fuzz_settings(20)
@given(edits=mutations(YAML_BYTES))
def test_contract_loader_raises_only_contract_errors(edits):
    """check_file is load_contract's whole pipeline (YAML, bounds, schema, lint, build)."""
    path = _scratch(mutate(CONTRACT_BYTES, edits), ".yaml")
    try:
        with bounded_memory():
            contract, issues = check_file(path)  # never raises
        assert (contract is None) == any(i.severity == "error" for i in issues)
    finally:
        path.unlink()


@fuzz_settings(10)
@given(depth=st.integers(1, 5000), opener=st.sampled_from(("[", "{a: ", "- ", "&x [*x, ")))
def test_contract_loader_survives_deep_or_self_referencing_structure(depth, opener):
    text = CONTRACT_BYTES.decode() + "extra: " + opener * depth + "\n"
    path = _scratch(text.encode(), ".yaml")
    try:
        with bounded_memory():
            check_file(path)
    finally:
        path.unlink()


# -- GGUF header reader ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def mini_gguf(tmp_path_factory):
    path = write_variant(tmp_path_factory.mktemp("fuzz") / "mini.gguf")
    return path.read_bytes(), int(gguf.GGUFReader(path).data_offset)


U64_EDGES = st.sampled_from([0, 1, 31, 32, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1])


@fuzz_settings(80)
@given(
    edits=mutations(max_edits=4),
    words=st.lists(
        st.tuples(st.floats(0, 1, allow_nan=False), st.one_of(U64_EDGES, st.integers(0, 2**64 - 1))), max_size=3
    ),
    cut=st.one_of(st.none(), st.floats(0, 1, allow_nan=False)),
)
def test_gguf_reader_raises_only_model_format_errors(mini_gguf, edits, words, cut):
    data, header = mini_gguf
    out = bytearray(mutate(data, edits, region=header))
    for where, value in words:  # hostile counts, lengths, offsets, types
        i = int(where * (header - 8))
        out[i : i + 8] = value.to_bytes(8, "little")
    if cut is not None:
        out = out[: int(cut * len(out))]
    path = _scratch(bytes(out), ".gguf")
    try:
        with bounded_memory():
            try:
                model = open_model(path)
            except ModelFormatError:
                return
            size = path.stat().st_size
            spans = sorted((t.offset, t.offset + t.nbytes) for t in model.tensors.values())
            assert all(0 <= a <= b <= size for a, b in spans)
            assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:]))
    finally:
        path.unlink()


# -- report / envelope reader ----------------------------------------------------------------
@pytest.fixture(scope="module")
def signed_report():
    signer = keys.generate()
    predicate = tf.make_predicate(CONTRACT_GPU, present=tf.ALGORITHM_CELLS)
    return signer, predicate, envelope_bytes(build_statement(predicate), signer)


CONTRACT_GPU = tf.CONTRACT_SRC
JSON_BYTES = b'{}[]",:0123456789.-eE truefalsn\\u'


def _audit_never_raises(path: Path, verifiers) -> AuditResult:
    with bounded_memory():
        try:
            open_report(path, verifiers)
        except TrustError:
            pass
        result = audit(path, verifiers, AuditOptions(require_cells=("lavapipe", "nvidia-vulkan")))
    assert isinstance(result, AuditResult)
    return result


@fuzz_settings(60)
@given(edits=mutations(JSON_BYTES))
def test_envelope_reader_raises_only_trust_errors(signed_report, edits):
    signer, _, data = signed_report
    path = _scratch(mutate(data, edits), ".json")
    try:
        result = _audit_never_raises(path, [signer.verifier])
        if not result.ok:
            assert result.first_failure.detail
    finally:
        path.unlink()


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, prefix + (i,))


def _replace(node, path, value):
    if not path:
        return value
    node[path[0]] = _replace(node[path[0]], path[1:], value)
    return node


@fuzz_settings(30)
@given(data=st.data())
def test_audit_of_a_signed_but_malformed_predicate_never_raises(signed_report, data):
    """The signer is trusted, the content is hostile: audit must refuse it, not crash."""
    signer, predicate, _ = signed_report
    mutated = json.loads(json.dumps(predicate))
    # the embedded contract is the loader's to fuzz; here the jobs, cells, levels and times
    # the embedded contract is the loader's to fuzz; here the jobs, cells, levels and times.
    # A top-level key is drawn first so that small sections weigh as much as the jobs list.
    paths = [p for p in _paths(mutated) if p and p[:2] != ("contract", "document")]
    for _ in range(data.draw(st.integers(1, 3))):
        top = data.draw(st.sampled_from(sorted({p[0] for p in paths})))
        path = data.draw(st.sampled_from([p for p in paths if p[0] == top]))
        try:
            mutated = _replace(mutated, path, data.draw(JSON_VALUES))
        except (KeyError, IndexError, TypeError):  # an earlier edit removed the path
            continue
    statement = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [],
        "predicateType": "https://harness.dev/verification-report/v1",
        "predicate": mutated,
    }
    try:
        statement = build_statement(mutated)
    except (KeyError, TypeError, AttributeError):
        pass  # subjects cannot even be derived
    try:
        payload = envelope_bytes(statement, signer)
    except (TypeError, ValueError):
        return  # not serialisable: cannot be a file
    path = _scratch(payload, ".json")
    try:
        _audit_never_raises(path, [signer.verifier])
    finally:
        path.unlink()


def test_the_unmutated_report_audits(signed_report):
    signer, _, data = signed_report
    path = _scratch(data, ".json")
    try:
        failed = [c.name for c in _audit_never_raises(path, [signer.verifier]).checks if not c.ok]
        assert failed == ["cell:nvidia-vulkan"]  # absent in the base report, required
        assert audit(path, [signer.verifier]).ok
    finally:
        path.unlink()
