"""Checks made before any job runs, so bad input is a usage error (exit 2) in seconds rather
than a matrix of ERROR jobs (exit 4) after minutes: every model that a job will run on opens
and validates (file present, digest as pinned, GGUF well-formed, every tensor type supported),
and every contract prompt's token ids lie inside that model's vocabulary.
"""

from __future__ import annotations

from backends.model.errors import ModelFormatError
from harness.falsifiers.registry import JobError


class PreflightError(ValueError):
    """The run cannot be meaningful: a model or prompt is unusable (usage error, exit 2)."""


def models_to_run(runner) -> list[str]:
    """Model ids of the jobs that will execute here (counted, on a present cell), in plan order."""
    ids: list[str] = []
    for job in runner.jobs:
        if job.counted and runner.cells[job.cell.id].present and job.model not in ids:
            ids.append(job.model)
    return ids


def check_prompts(prompts: dict, vocab_size: int, model_id: str) -> None:
    for pid, ids in prompts.items():
        if not isinstance(ids, (list, tuple)):  # a text prompt: its tokenizer makes the ids
            continue
        bad = [t for t in ids if not 0 <= int(t) < vocab_size]
        if bad:
            raise PreflightError(
                f"prompt {pid}: token id {bad[0]} is outside model {model_id}'s vocabulary 0..{vocab_size - 1}"
            )


def preflight(runner) -> None:
    """Raise PreflightError naming the first unusable model or prompt of `runner`'s plan."""
    for model_id in models_to_run(runner):
        try:
            model = runner.models.open(model_id)
        except JobError as exc:  # names the model already
            raise PreflightError(str(exc)) from None
        except (ModelFormatError, OSError) as exc:
            raise PreflightError(f"model {model_id}: {exc}") from None
        vocab = getattr(getattr(model, "config", None), "vocab_size", None)
        if vocab is not None:
            check_prompts(runner.contract.prompts, int(vocab), model_id)
