"""The plan: a contract and the user's filters -> frozen (falsifier × cell) jobs.

Every pair a falsifier names is planned, so the report always shows the whole matrix; jobs the
user filtered out (--device, --falsifier, heavy without --heavy, oracle fixtures made for another
model than --model) are kept with `excluded` set: they are recorded as NOT_RUN, not counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.contract.model import Contract, DeviceCell, Falsifier

HEAVY_TAG = "heavy"
# Kinds whose evidence is pinned to the contract's model (a fixture); --model cannot stand in.
MODEL_PINNED_KINDS = ("oracle",)


class PlanError(ValueError):
    """The filters name something the contract does not have (usage error, exit 2)."""


@dataclass(frozen=True)
class Filters:
    """What the user asked for on the command line."""

    devices: tuple[str, ...] = ()
    falsifiers: tuple[str, ...] = ()
    heavy: bool = False
    model_override: str | None = None

    def to_dict(self) -> dict:
        return {
            "devices": list(self.devices),
            "falsifiers": list(self.falsifiers),
            "heavy": self.heavy,
            "model_override": self.model_override,
        }


@dataclass(frozen=True)
class Job:
    """One falsifier on one device cell with one model; `excluded` says why it will not run."""

    falsifier: Falsifier
    cell: DeviceCell
    model: str  # a key of contract.models, or the --model path
    excluded: str | None = None

    @property
    def counted(self) -> bool:
        return self.excluded is None

    @property
    def key(self) -> tuple[str, str]:
        return (self.falsifier.id, self.cell.id)


def check_filters(contract: Contract, filters: Filters) -> None:
    """Raise PlanError naming any --device / --falsifier id the contract does not define."""
    cells = {c.id for c in contract.devices}
    fids = {f.id for f in contract.falsifiers}
    bad = [f"--device {d}" for d in filters.devices if d not in cells]
    bad += [f"--falsifier {f}" for f in filters.falsifiers if f not in fids]
    if bad:
        raise PlanError(
            f"{contract.path}: unknown {', '.join(bad)}; cells: {', '.join(sorted(cells))}; "
            f"falsifiers: {', '.join(sorted(fids))}"
        )


def model_for(contract: Contract, falsifier: Falsifier, filters: Filters) -> str:
    """The model a falsifier runs on: --model, else params.model, else the contract default."""
    if filters.model_override:
        return filters.model_override
    return str(falsifier.params.get("model") or contract.default_model)


def exclusion(falsifier: Falsifier, cell: DeviceCell, filters: Filters) -> str | None:
    """Why the user's filters leave this job out, or None when it runs."""
    if filters.falsifiers and falsifier.id not in filters.falsifiers:
        return "excluded by --falsifier"
    if filters.devices and cell.id not in filters.devices:
        return "excluded by --device"
    if HEAVY_TAG in falsifier.tags and not filters.heavy:
        return "tagged heavy; run with --heavy"
    if filters.model_override and falsifier.kind in MODEL_PINNED_KINDS:
        pinned = falsifier.params.get("model", "the contract's default model")
        return f"its fixture is for model {pinned}; --model {filters.model_override} replaces it"
    return None


def build_plan(contract: Contract, filters: Filters) -> list[Job]:
    """Every (falsifier × cell) pair of the contract, in contract order, with exclusions marked."""
    check_filters(contract, filters)
    jobs = []
    for f in contract.falsifiers:
        for cell_id in f.devices:
            cell = contract.cell(cell_id)
            jobs.append(Job(f, cell, model_for(contract, f, filters), exclusion(f, cell, filters)))
    return jobs
