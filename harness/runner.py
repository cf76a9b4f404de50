"""The runner: planned jobs -> backends -> measurements -> judged, waived job records.

One backend instance per (cell, model), reused by every job on that cell (wgpu allows one device
per process). `faults` ({cell id: fault names}) is for the mutation runner (harness.mutants) only:
it plants those bugs in the cell's own backend; a cell used as another job's reference is always
opened clean. A wgpu job also measures whether it ran on the GPU (gpu_submissions during the
job, gpu_fallback_reported from the backend's identity), judged by GPU_RULES with the contract's
thresholds: a job that ran on a CPU fallback is FAIL whatever else it measured. An engine cell
(external, llama-cpp) is opened with its engine mapping and judged by ENGINE_RULES: an engine
whose identity reports a fallback FAILs; NaN/inf in its answers FAILs (NonFiniteOutput).
"""

from __future__ import annotations

import datetime
import time
import traceback
from dataclasses import dataclass, field
from typing import Callable

import backends
from backends import ENGINE_BACKENDS
from backends.api import BackendUnavailable, NonFiniteOutput
from backends.model.errors import UnsupportedQuantType
from harness import blame
from harness import judge as J
from harness.contract.model import Contract
from harness.devices import GPU_BACKEND, CellStatus, resolve_cells
from harness.falsifiers import Context, JobError, JobFailed, JobNotRun, get_kind
from harness.model_store import ModelStore
from harness.plan import Filters, Job, build_plan

# What "ran on the GPU" means for a wgpu job (a definition, not a tolerance: no contract tunes it).
GPU_RULES = (
    J.Rule("gpu_fallback_reported", "==", 0, "ran on a CPU fallback (backend identity reports fallback)"),
    J.Rule("gpu_submissions", ">=", 1, "ran on a CPU fallback (no GPU submission during the job)"),
)


ENGINE_RULES = (
    J.Rule("engine_fallback_reported", "==", 0, "ran on a CPU fallback (the engine's identity reports fallback)"),
)
SELECTED_BACKENDS = (GPU_BACKEND, *ENGINE_BACKENDS)  # cells whose selector the backend checks


def rules_for(backend: str) -> tuple:
    """The engine's rules a job on a cell of `backend` is judged by, with its thresholds."""
    if backend in ENGINE_BACKENDS:
        return ENGINE_RULES
    return GPU_RULES if backend == GPU_BACKEND else ()


@dataclass
class RunResult:
    """What a run produced, ready for the report."""

    jobs: list[dict]
    cells: dict[str, CellStatus]
    models: dict[str, dict] = field(default_factory=dict)


class Runner:
    """Runs a contract's plan. Hooks (open_backend, backend_names, adapters, models) exist so the
    engine can be tested on the null backend and on made-up adapters."""

    def __init__(
        self,
        contract: Contract,
        filters: Filters = Filters(),
        *,
        adapters: list[dict] | None = None,
        open_backend: Callable = backends.open_backend,
        backend_names: dict[str, str] | None = None,
        models: ModelStore | None = None,
        today: str | None = None,
        progress: Callable | None = None,
        faults: dict[str, frozenset[str]] | None = None,
    ):
        self.contract, self.filters = contract, filters
        self.faults = {cell: frozenset(f) for cell, f in (faults or {}).items() if f}
        self.jobs: list[Job] = build_plan(contract, filters)
        for f in contract.falsifiers:  # an unknown kind is a contract error before anything runs
            get_kind(f.kind)
        self.cells = resolve_cells(contract.devices, adapters)
        self._open, self._names = open_backend, backend_names or {}
        self.models = models or ModelStore(contract)
        self.today = today or datetime.date.today().isoformat()
        self.progress = progress or (lambda i, n, job: None)
        self._backends: dict[tuple[str, str], object] = {}
        self._broken: dict[tuple, Exception] = {}

    def run(self) -> RunResult:
        records = []
        for i, job in enumerate(self.jobs):
            self.progress(i + 1, len(self.jobs), job)
            records.append(self._record(job))
        self.close()
        return RunResult(records, self.cells, self.models.describe())

    def close(self) -> None:
        for b in self._backends.values():
            close = getattr(b, "close", None)
            if callable(close):
                close()
        self._backends.clear()

    # -- one job ---------------------------------------------------------------------------
    def _record(self, job: Job) -> dict:
        t0 = time.perf_counter()
        status = self.cells[job.cell.id]
        waiver = _waiver_for(self.contract, job)
        applies = waiver if job.counted else None  # an uncounted job's verdict is not waived
        if job.excluded:
            out = self._preset(job, applies, J.NOT_RUN, job.excluded)
        elif not status.present:
            out = self._preset(job, applies, J.NOT_RUN, status.reason)
        else:
            out = self._execute(job, applies)
        return {
            "falsifier": job.falsifier.id,
            "cell": job.cell.id,
            "kind": job.falsifier.kind,
            "model": job.model,
            **out,
            "waiver": _waiver_dict(waiver),
            "timing_s": round(time.perf_counter() - t0, 6),
            "counted": job.counted,
        }

    def _preset(self, job: Job, waiver, verdict: str, reason: str) -> dict:
        return _outcome(J.verdict({}, job.falsifier.thresholds, waiver, self.today, preset=(verdict, reason)))

    def _execute(self, job: Job, waiver) -> dict:
        try:
            ctx = self._context(job)
            before = self._submits(job, ctx)
            outcome = get_kind(job.falsifier.kind).run(ctx)
            measured = {**outcome.measurements, **self._gpu_evidence(job, ctx, before)}
            judged = J.verdict(
                measured, job.falsifier.thresholds, waiver, self.today, rules=rules_for(job.cell.backend)
            )
            if not all(r.ok for r in judged.results):  # which side is wrong, and where (blame)
                outcome.diagnostics.update(blame.on_failure(ctx, outcome.diagnostics))
            return _outcome(judged, measured, outcome.diagnostics)
        except (JobFailed, NonFiniteOutput) as exc:  # the answer itself refutes the claim
            return self._preset(job, waiver, J.FAIL, str(exc))
        except UnsupportedQuantType as exc:  # the implementation cannot do what the claim needs
            return self._preset(job, waiver, J.FAIL, f"unsupported: {exc}")
        except (JobNotRun, BackendUnavailable) as exc:
            return self._preset(job, waiver, J.NOT_RUN, str(exc))
        except JobError as exc:
            return self._preset(job, waiver, J.ERROR, str(exc))
        except Exception as exc:  # a crash is evidence of nothing: ERROR with where it happened
            where = traceback.extract_tb(exc.__traceback__)[-1]
            return self._preset(
                job, waiver, J.ERROR, f"{type(exc).__name__}: {exc} (at {where.filename}:{where.lineno})"
            )

    def _context(self, job: Job) -> Context:
        model = self.models.open(job.model)
        return Context(
            falsifier=job.falsifier,
            cell=job.cell,
            model=model,
            model_id=job.model,
            prompts=self.contract.prompts,
            contract_dir=self.contract.path.parent,
            backend_factory=lambda: self._backend(job.cell, job.model),
            reference=lambda name: self._reference(name, job.model),
            text_tokens=lambda name, text: self.models.prompt_tokens(job.model, name, text),
        )

    def _backend(self, cell, model_id: str, planted: bool = True):
        faults = self.faults.get(cell.id, frozenset()) if planted else frozenset()
        key = (cell.id, model_id, faults)
        if key in self._broken:  # a backend that failed to open fails the same way again
            raise self._broken[key]
        if key not in self._backends:
            name = self._names.get(cell.backend, cell.backend)
            selector = cell.selector if cell.backend in SELECTED_BACKENDS else None
            extra = {"faults": faults} if faults else {}
            if cell.backend in ENGINE_BACKENDS:
                extra["engine"] = cell.engine
            try:
                self._backends[key] = self._open(name, self.models.open(model_id), device=selector, **extra)
            except Exception as exc:  # an engine that hung at start-up must not hang every job
                self._broken[key] = exc
                if isinstance(exc, BackendUnavailable):  # the report's cell says so too
                    self.cells[cell.id].present, self.cells[cell.id].reason = False, str(exc)
                raise
            ident = getattr(self._backends[key], "identity", None)
            if callable(ident):
                self.cells[cell.id].identity = {**self.cells[cell.id].identity, **ident()}
        return self._backends[key]

    def _reference(self, name: str, model_id: str):
        """A reference named by cell id (shares that cell's backend) or by backend name."""
        cells = {c.id: c for c in self.contract.devices}
        if name in cells:
            if not self.cells[name].present:
                raise JobError(f"reference cell {name} is not present here: {self.cells[name].reason}")
            return self._backend(cells[name], model_id, planted=False)
        registered = set(backends.backend_names()) | set(self._names.values())
        if name not in registered:
            raise JobError(f"reference backend {name} not available")
        key = (f"backend:{name}", model_id)
        if key not in self._backends:
            self._backends[key] = self._open(self._names.get(name, name), self.models.open(model_id), device=None)
        return self._backends[key]

    def _submits(self, job: Job, ctx: Context) -> int | None:
        if job.cell.backend != GPU_BACKEND:
            return None
        return int(ctx.backend.counters().get("submits", 0))

    def _gpu_evidence(self, job: Job, ctx: Context, before: int | None) -> dict:
        """For a wgpu job, what GPU_RULES judge: submissions the device counted during the job
        and whether the backend's identity reports a fallback; for an engine job, what
        ENGINE_RULES judge; {} for other cells."""
        if job.cell.backend in ENGINE_BACKENDS:
            return {"engine_fallback_reported": int(bool(ctx.backend.identity().get("fallback")))}
        if before is None:
            return {}
        return {
            "gpu_submissions": int(ctx.backend.counters().get("submits", 0)) - before,
            "gpu_fallback_reported": int(bool(ctx.backend.identity().get("fallback"))),
        }


def _outcome(judged: J.Judgement, measurements=None, diagnostics=None) -> dict:
    return {
        "verdict": judged.verdict,
        "reason": judged.reason,
        "measurements": measurements or {},
        "thresholds": judged.threshold_dicts(),
        "diagnostics": diagnostics or {},
    }


def _waiver_for(contract: Contract, job: Job):
    return next((w for w in contract.waivers if w.falsifier == job.falsifier.id and w.cell == job.cell.id), None)


def _waiver_dict(w) -> dict | None:
    if w is None:
        return None
    return {"falsifier": w.falsifier, "cell": w.cell, "owner": w.owner, "reason": w.reason, "expires": str(w.expires)}
