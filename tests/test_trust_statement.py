"""The in-toto statement checks: strict payload JSON, shape errors that name the field, subjects."""

from __future__ import annotations

import copy

import pytest

from harness.trust import statement as st
from harness.trust.errors import StatementError, SubjectMismatchError
from tests import trust_factory as tf


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> dict:
    contract = tf.contract_copy(tmp_path_factory.mktemp("c"))
    return st.build_statement(tf.make_predicate(contract))


def test_parse_payload_round_trips_canonical_bytes(good):
    assert st.parse_payload(st.canonical(good)) == good


@pytest.mark.parametrize(
    "payload, message",
    [
        (b'{"a": 1, "a": 2}', "duplicate key 'a'"),
        (b'{"a": NaN}', "NaN"),
        (b'{"a": -Infinity}', "-Infinity"),
        (b"[1, 2]", "expected a JSON object"),
        (b"\xff", "UTF-8"),
    ],
)
def test_parse_payload_refuses_ambiguous_json(payload, message):
    with pytest.raises(StatementError, match=message):
        st.parse_payload(payload)


@pytest.mark.parametrize(
    "path, value, message",
    [
        (("_type",), "https://in-toto.io/Statement/v0.1", "_type"),
        (("predicateType",), "https://example.com/other", "predicateType"),
        (("subject",), [], "subject"),
        (("predicate", "jobs"), {}, "predicate.jobs: expected list"),
        (("predicate", "revision", "dirty"), "no", "predicate.revision.dirty: expected bool"),
        (("predicate", "contract", "document"), None, "predicate.contract.document"),
        (("predicate", "decision", "exit_code"), "0", "predicate.decision.exit_code"),
    ],
)
def test_check_shape_names_the_field(good, path, value, message):
    bad = copy.deepcopy(good)
    target = bad
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(StatementError, match=message):
        st.check_shape(bad)


def test_check_shape_names_job_missing_verdict(good):
    bad = copy.deepcopy(good)
    del bad["predicate"]["jobs"][2]["verdict"]
    with pytest.raises(StatementError, match=r"predicate.jobs\[2\]: missing field 'verdict'"):
        st.check_shape(bad)


def test_check_subjects_match_refuses_extra_and_missing(good):
    st.check_subjects_match(good)
    extra = copy.deepcopy(good)
    extra["subject"].append({"name": "model:other", "digest": {"sha256": "00" * 32}})
    with pytest.raises(SubjectMismatchError, match="model:other"):
        st.check_subjects_match(extra)
    moved = copy.deepcopy(good)
    moved["predicate"]["revision"]["commit"] = "f" * 40
    with pytest.raises(SubjectMismatchError, match="revision"):
        st.check_subjects_match(moved)


def test_subject_digest_finds_contract_and_revision(good):
    p = good["predicate"]
    assert st.subject_digest(good, "contract", "sha256") == p["contract"]["sha256"]
    assert st.subject_digest(good, "revision", "gitCommit") == p["revision"]["commit"]
