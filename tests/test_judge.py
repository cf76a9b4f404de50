"""The judge: thresholds from the contract against measurements; waivers."""

import math
from types import SimpleNamespace as NS

import pytest

from harness import judge as J


def th(metric, comparator, value):
    return NS(metric=metric, comparator=comparator, value=value)


@pytest.mark.parametrize(
    "comparator,value,measured,ok",
    [
        (">=", 0.99, 0.99, True),
        (">=", 0.99, 0.9899, False),
        (">", 1.0, 1.0, False),
        (">", 1.0, 1.0001, True),
        ("<=", 1e-4, 1e-4, True),
        ("<=", 1e-4, 1.1e-4, False),
        ("<", 0.0, 0.0, False),
        ("<", 0.0, -1e-9, True),
        ("==", 1, 1.0, True),
        ("==", 1, 0.0, False),
    ],
)
def test_judge_comparators_at_and_across_the_boundary(comparator, value, measured, ok):
    verdict, reason, results = J.judge({"m": measured}, [th("m", comparator, value)])
    assert results[0].ok is ok
    assert verdict == (J.PASS if ok else J.FAIL)
    assert (reason == "") is ok


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "x", None])
def test_judge_non_finite_measurement_fails_and_is_serialised_as_null(bad):
    # <= with NaN would be False anyway; >= -inf would be True: non-finite must fail regardless
    verdict, reason, results = J.judge({"m": bad}, [th("m", ">=", -1e300)])
    assert verdict == J.FAIL
    assert results[0].measured is None and "not a finite number" in reason
    assert results[0].to_dict()["measured"] is None


def test_judge_missing_metric_fails_naming_it():
    verdict, reason, _ = J.judge({"other": 1.0}, [th("cosine_min", ">=", 0.5)])
    assert verdict == J.FAIL and "cosine_min was not measured" in reason


def test_judge_no_thresholds_is_not_a_pass():
    verdict, reason, _ = J.judge({"m": 1.0}, [])
    assert verdict == J.FAIL and "no thresholds" in reason


def test_judge_every_threshold_must_hold():
    verdict, reason, results = J.judge({"a": 1.0, "b": 5.0}, [th("a", ">=", 0.5), th("b", "<=", 1.0)])
    assert verdict == J.FAIL and [r.ok for r in results] == [True, False]
    assert reason.startswith("b 5 does not satisfy <= 1")


def test_judge_unknown_comparator_is_an_error():
    with pytest.raises(ValueError, match="unknown comparator '~'"):
        J.judge({"m": 1.0}, [th("m", "~", 1.0)])


WAIVER = NS(owner="kernel-team", reason="known lavapipe rounding", expires="2026-12-31")


def test_judge_unexpired_waiver_turns_fail_into_waived():
    verdict, reason = J.apply_waiver(J.FAIL, "cos 0.5", WAIVER, today="2026-11-26")
    assert verdict == J.WAIVED and "kernel-team" in reason and "cos 0.5" in reason


def test_judge_unexpired_waiver_leaves_pass_alone():
    assert J.apply_waiver(J.PASS, "", WAIVER, today="2026-11-26") == (J.PASS, "")


@pytest.mark.parametrize("verdict", [J.PASS, J.FAIL])
def test_judge_expired_waiver_is_itself_a_fail(verdict):
    got, reason = J.apply_waiver(verdict, "", WAIVER, today="2027-01-01")
    assert got == J.FAIL and "expired on 2026-12-31" in reason


def test_judge_waiver_expiring_today_still_holds():
    assert J.apply_waiver(J.FAIL, "x", WAIVER, today="2026-12-31")[0] == J.WAIVED


def test_verdict_judges_rules_with_thresholds_and_names_the_rule_first():
    rule = J.Rule("gpu_submissions", ">=", 1, "ran on a CPU fallback")
    ok = J.verdict({"m": 1.0, "gpu_submissions": 3}, [th("m", ">=", 0.5)], rules=[rule])
    assert ok.verdict == J.PASS and [r.metric for r in ok.results] == ["m", "gpu_submissions"]
    bad = J.verdict({"m": 0.0, "gpu_submissions": 0}, [th("m", ">=", 0.5)], rules=[rule])
    assert bad.verdict == J.FAIL
    assert bad.reason.startswith("ran on a CPU fallback: gpu_submissions 0 does not satisfy >= 1; m 0")


def test_verdict_rules_alone_cannot_pass_a_falsifier_without_thresholds():
    rule = J.Rule("gpu_submissions", ">=", 1, "ran on a CPU fallback")
    got = J.verdict({"gpu_submissions": 5}, [], rules=[rule])
    assert got.verdict == J.FAIL and got.reason == "no thresholds to judge against"


def test_verdict_applies_the_waiver_to_a_judged_and_to_a_preset_outcome():
    live = NS(owner="o", reason="r", expires="2099-01-01")
    expired = NS(owner="o", reason="r", expires="2000-01-01")
    failing = J.verdict({"m": 0.0}, [th("m", ">=", 0.5)], live, "2026-01-01")
    assert failing.verdict == J.WAIVED and not failing.results[0].ok
    not_run = J.verdict({}, [th("m", ">=", 0.5)], expired, "2026-01-01", preset=(J.NOT_RUN, "absent"))
    assert not_run.verdict == J.FAIL and "expired" in not_run.reason and not_run.results == []
    assert J.verdict({}, [], None, preset=(J.ERROR, "boom")).verdict == J.ERROR
