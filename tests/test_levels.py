"""Levels: predicates (pass / all_of / any_of / quorum), WAIVED as pass, the cumulative ladder,
and the exit-code rules of `harness verify`."""

import pytest

from harness.levels import decide, earned_level, holds, level_holds, needed_pairs

P, F, N, E, W = "PASS", "FAIL", "NOT_RUN", "ERROR", "WAIVED"


def leaf(fs, cs):
    return {"pass": {"falsifiers": fs, "cells": cs}}


def test_levels_pass_leaf_needs_every_falsifier_on_every_cell():
    pred = leaf(["A", "B"], ["x", "y"])
    all_pass = {(f, c): P for f in "AB" for c in "xy"}
    assert holds(pred, all_pass)
    for missing in all_pass:
        assert not holds(pred, {**all_pass, missing: F})
        assert not holds(pred, {k: v for k, v in all_pass.items() if k != missing})


def test_levels_waived_counts_as_pass_but_not_run_and_error_do_not():
    pred = leaf(["A"], ["x"])
    assert holds(pred, {("A", "x"): W})
    for v in (N, E, F):
        assert not holds(pred, {("A", "x"): v})


def test_levels_all_of_and_any_of():
    a, b = leaf(["A"], ["x"]), leaf(["B"], ["x"])
    only_a = {("A", "x"): P, ("B", "x"): F}
    assert not holds({"all_of": [a, b]}, only_a)
    assert holds({"any_of": [a, b]}, only_a)
    assert not holds({"any_of": [a, b]}, {("A", "x"): F, ("B", "x"): N})


@pytest.mark.parametrize("passing,ok", [(0, False), (1, False), (2, True), (3, True)])
def test_levels_quorum_counts_holding_members(passing, ok):
    cells = ["c1", "c2", "c3"]
    pred = {"quorum": {"min": 2, "of": [leaf(["A"], [c]) for c in cells]}}
    verdicts = {("A", c): (P if i < passing else F) for i, c in enumerate(cells)}
    assert holds(pred, verdicts) is ok


def test_levels_unknown_predicate_key_is_an_error():
    with pytest.raises(ValueError, match="pass / all_of / any_of / quorum"):
        holds({"none_of": []}, {})


LEVELS = {
    "ACTIVE_ALGORITHM_LEVEL": {"description": "d", "all_of": [leaf(["A"], ["cpu"])]},
    "ACTIVE_RUNTIME": {"freshness_days": 30, "pass": {"falsifiers": ["B"], "cells": ["gpu"]}},
}


def test_levels_ladder_is_cumulative():
    # B on gpu passes but A on cpu failed: ACTIVE_RUNTIME alone is not enough
    verdicts = {("A", "cpu"): F, ("B", "gpu"): P}
    assert level_holds(LEVELS, verdicts) == {"ACTIVE_ALGORITHM_LEVEL": False, "ACTIVE_RUNTIME": False}
    assert earned_level(LEVELS, verdicts) == "DRAFT"
    assert earned_level(LEVELS, {("A", "cpu"): P, ("B", "gpu"): F}) == "ACTIVE_ALGORITHM_LEVEL"
    assert earned_level(LEVELS, {("A", "cpu"): W, ("B", "gpu"): P}) == "ACTIVE_RUNTIME"


def test_levels_undefined_level_cannot_be_earned():
    only_low = {"ACTIVE_ALGORITHM_LEVEL": LEVELS["ACTIVE_ALGORITHM_LEVEL"]}
    assert earned_level(only_low, {("A", "cpu"): P, ("B", "gpu"): P}) == "ACTIVE_ALGORITHM_LEVEL"
    assert earned_level({}, {("A", "cpu"): P}) == "DRAFT"


def test_levels_needed_pairs_collects_every_leaf():
    pred = {"all_of": [leaf(["A"], ["x"]), {"quorum": {"min": 1, "of": [leaf(["B"], ["y", "z"])]}}]}
    assert needed_pairs(pred) == {("A", "x"), ("B", "y"), ("B", "z")}


def job(f, c, v, counted=True):
    return {"falsifier": f, "cell": c, "verdict": v, "counted": counted}


@pytest.mark.parametrize(
    "jobs,declared,code",
    [
        # everything needed passed
        ([job("A", "cpu", P), job("B", "gpu", P)], "ACTIVE_RUNTIME", 0),
        # any ERROR wins over everything
        ([job("A", "cpu", F), job("B", "gpu", E)], "DRAFT", 4),
        # a counted FAIL
        ([job("A", "cpu", F), job("B", "gpu", N)], "DRAFT", 1),
        # an uncounted FAIL cannot happen (filtered jobs are NOT_RUN), an uncounted NOT_RUN is ignored
        ([job("A", "cpu", P), job("B", "gpu", N, counted=False)], "ACTIVE_ALGORITHM_LEVEL", 0),
        # a counted NOT_RUN (cell absent here): inconclusive even at DRAFT
        ([job("A", "cpu", P), job("B", "gpu", N)], "DRAFT", 3),
        # filtered out but needed for the declared level: inconclusive, not refuted
        ([job("A", "cpu", P), job("B", "gpu", N, counted=False)], "ACTIVE_RUNTIME", 3),
        # a pair the declared level needs was never planned: inconclusive
        ([job("A", "cpu", W), job("C", "gpu", P)], "ACTIVE_RUNTIME", 3),
        # WAIVED passes
        ([job("A", "cpu", W), job("B", "gpu", W)], "ACTIVE_RUNTIME", 0),
    ],
)
def test_levels_decide_exit_codes(jobs, declared, code):
    got, summary, _ = decide(jobs, LEVELS, declared)
    assert got == code, summary


def test_levels_decide_reports_the_earned_level():
    _, summary, earned = decide([job("A", "cpu", P), job("B", "gpu", F)], LEVELS, "ACTIVE_RUNTIME")
    assert earned == "ACTIVE_ALGORITHM_LEVEL" and "falsified" in summary
