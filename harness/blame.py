"""Three-way blame for a failed parity or oracle job: which side is wrong, and where it starts.

The same prompt is traced by the job's backend (its cell), the CPU reference ("cpu") and the
float64 forward ("f64"). For each pair, the first stage in forward order (layer 0 attn, layer 0
moe, ..., logits) where the two diverge is found; a stage diverges when the falsifier's own
thresholds that apply to it (stage_thresholds) do not hold: the cosine floor, the rel-L2 bound
(so a relative-L2 jump in the residual stream counts), router agreement after a MoE block, and
argmax agreement / max_abs on the logits. The suspect is the side that diverges from both
others while those two still agree: the majority of three.

Runs only for a job the judge FAILed (the runner's hook, on_failure); the reference traces are
taken once per backend object, so a mutation run re-uses them across its jobs.

Two sides whose traces are bit-identical are one implementation (a clean CPU cell and the CPU
reference): with only two implementations left there is no majority, and no suspect is named.
Thresholds come from the contract; no number here decides anything.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from harness import judge as J
from harness.falsifiers.metrics import argmax_agreement, cosine_rows, max_abs, rel_l2_rows
from harness.falsifiers.registry import prefill_len

REFERENCES = ("cpu", "f64")  # backend names the job's backend is bisected against
STAGES = ("attn", "moe")  # Trace.hidden_attn, Trace.hidden; then "logits"
BISECTED_KINDS = ("parity", "oracle")


@dataclass(frozen=True)
class Point:
    """One stage in forward order: (layer, stage); logits have layer None and come last."""

    order: int
    layer: int | None
    stage: str


def stage_measurements(a, b, layer: int | None, stage: str) -> dict:
    """The contract metrics this stage can be judged by, measured between traces a and b.
    A hidden stage answers to the cosine and rel-L2 thresholds (and the moe stage to the
    router's); the logits stage to every logits threshold."""
    if layer is None:
        x, y = a.logits, b.logits
    else:
        x, y = (a.hidden_attn, b.hidden_attn) if stage == "attn" else (a.hidden, b.hidden)
        x, y = x[layer], y[layer]
    cos = float(np.min(cosine_rows(x, y)))
    rel = float(np.max(rel_l2_rows(x, y)))
    m = {"cosine": cos, "rel_l2": rel, "layer_cosine_min": cos, "cosine_min": cos, "logits_rel_l2_max": rel}
    if layer is None:
        m.update(argmax_agreement=argmax_agreement(x, y), max_abs=max_abs(x, y))
    elif stage == "moe":
        same = np.sort(a.router_ids[layer], axis=-1) == np.sort(b.router_ids[layer], axis=-1)
        m["router_id_agreement"] = float(np.mean(np.all(same, axis=-1)))
    return m


def stage_thresholds(thresholds, layer: int | None, stage: str) -> list:
    """The falsifier's thresholds that apply to a stage: for hidden states the layer cosine (or,
    without one, the logits cosine) and rel-L2, after the MoE block also router agreement; for
    logits the logits cosine (or the layer one), rel-L2, argmax agreement and max_abs."""
    names = {t.metric for t in thresholds}
    if layer is None:
        cos = "cosine_min" if "cosine_min" in names else "layer_cosine_min"
        wanted = {cos, "logits_rel_l2_max", "argmax_agreement", "max_abs"}
    else:
        cos = "layer_cosine_min" if "layer_cosine_min" in names else "cosine_min"
        wanted = {cos, "logits_rel_l2_max"} | ({"router_id_agreement"} if stage == "moe" else set())
    return [t for t in thresholds if t.metric in wanted]


def points(n_layer: int) -> list[Point]:
    out = [Point(2 * l + s, l, stage) for l in range(n_layer) for s, stage in enumerate(STAGES)]
    return out + [Point(2 * n_layer, None, "logits")]


def first_divergence(a, b, thresholds) -> dict | None:
    """The first stage where a and b break one of the falsifier's thresholds, with what broke."""
    for p in points(b.hidden.shape[0]):
        applicable = stage_thresholds(thresholds, p.layer, p.stage)
        if not applicable:
            continue
        m = stage_measurements(a, b, p.layer, p.stage)
        judged = J.verdict(m, applicable)  # the runner's own verdict, on this stage alone
        broken = [r for r in judged.results if not r.ok]
        if judged.verdict == J.FAIL:
            return {
                "order": p.order,
                "layer": p.layer,
                "stage": p.stage,
                "cosine": J.finite_or_none(m["cosine"]),
                "rel_l2": J.finite_or_none(m["rel_l2"]),
                "broken": [f"{r.metric} {r.comparator} {r.value:g}" for r in broken],
            }
    return None


def same_trace(a, b) -> bool:
    """Bit-identical traces: the same implementation, not an independent vote."""
    return all(np.array_equal(getattr(a, k), getattr(b, k)) for k in ("logits", "hidden_attn", "hidden", "router_ids"))


def group_identical(traces: dict) -> list[list[str]]:
    """Labels grouped by bit-identical traces, in the order given."""
    groups: list[list[str]] = []
    for label, tr in traces.items():
        home = next((g for g in groups if same_trace(traces[g[0]], tr)), None)
        if home is None:
            groups.append([label])
        else:
            home.append(label)
    return groups


def pair_key(a: str, b: str) -> str:
    return f"{a}~{b}"


def blame(sides: list[str], pairs: dict) -> tuple[str | None, dict | None, str]:
    """(suspect, where it first diverges, rule) by majority of three independent sides: the side
    diverging from both others, before (or without) those two diverging from each other."""
    if len(sides) < 3:
        return (
            None,
            None,
            (f"no majority: only {len(sides)} independent implementation(s) (bit-identical traces count once)"),
        )
    found = []
    for x in sides:
        y, z = [s for s in sides if s != x]
        mine = [_pair(pairs, x, y), _pair(pairs, x, z)]
        theirs = _pair(pairs, y, z)
        if all(mine) and (theirs is None or theirs["order"] > max(p["order"] for p in mine)):
            found.append((x, min(mine, key=lambda p: p["order"])))
    if len(found) != 1:
        return None, None, "no majority: no single side diverges from both others first"
    x, where = found[0]
    return x, where, f"{x} diverges from both others while they agree (majority of three)"


def _pair(pairs: dict, a: str, b: str) -> dict | None:
    return pairs.get(pair_key(a, b), pairs.get(pair_key(b, a)))


def bisect_traces(traces: dict, backends_of: dict, thresholds) -> dict:
    """The bisection record for traces {label: Trace} of one prompt; backends_of maps a label to
    its backend name (the suspect is reported by both)."""
    labels = list(traces)
    pairs = {
        pair_key(a, b): first_divergence(traces[a], traces[b], thresholds)
        for i, a in enumerate(labels)
        for b in labels[i + 1 :]
    }
    groups = group_identical(traces)
    side, where, rule = blame([g[0] for g in groups], pairs)
    return {
        "suspect": backends_of.get(side) if side else None,
        "side": side,
        "layer": where["layer"] if where else None,
        "stage": where["stage"] if where else None,
        "rule": rule,
        "identical": [g for g in groups if len(g) > 1],
        "pairs": {k: _public(v) for k, v in pairs.items()},
    }


def _public(point: dict | None) -> dict | None:
    return None if point is None else {k: v for k, v in point.items() if k != "order"}


def worst_prompt(per_prompt: list[dict]) -> str:
    """The prompt with the largest logits rel-L2 (NaN counts as the worst)."""

    def badness(row):
        v = row.get("logits_rel_l2_max")
        return float("inf") if v is None or not np.isfinite(v) else float(v)

    return max(per_prompt, key=badness)["prompt"]


# Traces already taken, per live backend object: a mutation run fails several jobs on the same
# backends and prompts, and a trace starts from an empty cache, so it is the same trace again.
# Entries go when the runner drops its backends.
_TRACES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def traced(backend, tokens: list[int], n: int | None):
    """backend.trace(tokens, n), taken once per backend object."""
    per_backend = _TRACES.setdefault(backend, {})
    key = (tuple(tokens), n)
    if key not in per_backend:
        per_backend[key] = backend.trace(tokens, n)
    return per_backend[key]


def bisect_job(ctx, prompt: str) -> dict:
    """Trace `prompt` with the job's backend, the CPU reference and the f64 forward (same prefill
    split as the job) and bisect the three."""
    tokens = ctx.prompt(prompt)
    n = prefill_len(len(tokens), ctx.params.get("prefill_fraction"))
    cell = ctx.cell.id if ctx.cell.id not in REFERENCES else f"{ctx.cell.id} (cell)"
    traces = {cell: traced(ctx.backend, tokens, n)}
    if not traces[cell].has_layers:
        return {
            "error": f"no bisection: {traces[cell].meta.get('layers', 'no per-layer states')}",
            "prompt": prompt,
            "prefill_len": n,
        }
    traces.update({name: traced(ctx.reference(name), tokens, n) for name in REFERENCES})
    backends_of = {cell: ctx.cell.backend, **{name: name for name in REFERENCES}}
    record = bisect_traces(traces, backends_of, ctx.falsifier.thresholds)
    return {**record, "prompt": prompt, "prefill_len": n}


def on_failure(ctx, diagnostics: dict) -> dict:
    """{"bisection": ...} for a failed parity or oracle job, {} for other kinds. A bisection that
    cannot run (a reference missing here) is recorded as its error; it never changes a verdict."""
    if ctx.falsifier.kind not in BISECTED_KINDS or not diagnostics.get("per_prompt"):
        return {}
    try:
        return {"bisection": bisect_job(ctx, worst_prompt(diagnostics["per_prompt"]))}
    except Exception as exc:  # noqa: BLE001  (diagnostics only: the verdict stands as judged)
        return {"bisection": {"error": f"{type(exc).__name__}: {exc}"}}
