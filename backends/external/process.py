"""One engine subprocess and one request/response exchange at a time, under a deadline.

The exchange (write the request, read the answer) runs in a daemon thread the caller waits for
with a timeout; past it the engine is killed (its whole process group on POSIX), so a hung
engine costs the timeout and never hangs the harness. stderr is drained by another daemon thread
that keeps only its last lines, which every error message quotes.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import threading
import weakref

from backends.external import wire

STDERR_LINES = 40  # lines of the engine's stderr kept for error messages
STDERR_LINE_CHARS = 400


class EngineError(RuntimeError):
    """The engine failed: it died, timed out, broke the framing or answered nonsense."""


class EngineRefused(EngineError):
    """The engine answered {"ok": false}: `code` says why (docs/engine-protocol.md)."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


class EngineProcess:
    def __init__(self, argv: list[str], *, env: dict | None = None, cwd: str | None = None):
        self.argv = [str(a) for a in argv]
        self._tail: collections.deque[str] = collections.deque(maxlen=STDERR_LINES)
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=os.name == "posix",
            )
        except OSError as exc:
            raise EngineError(f"cannot start engine {self.argv}: {exc}") from exc
        self._drainer = threading.Thread(target=self._drain_stderr, daemon=True)
        self._drainer.start()
        # an engine still running when this object goes (or the harness exits) is killed
        self._reaper = weakref.finalize(self, _kill_group, self.proc)

    def _drain_stderr(self) -> None:
        for raw in iter(self.proc.stderr.readline, b""):
            self._tail.append(raw.decode("utf-8", "replace").rstrip()[:STDERR_LINE_CHARS])

    def stderr_tail(self) -> str:
        return "\n".join(self._tail)

    def exchange(self, request: dict, expect, timeout: float) -> tuple[dict, dict]:
        """Send `request`, read (header, tensors). `expect(header)` -> {name: (dtype, shape)}
        gives the tensors the answer must carry (None: none). Raises EngineError (the engine
        is killed first when it broke the exchange) or EngineRefused (it is still usable)."""
        op = request.get("op")
        if self.proc.poll() is not None:
            raise self._error(op, f"the engine process has exited (code {self.proc.returncode})")
        box: dict = {}

        def talk():
            try:
                self.proc.stdin.write(wire.encode(request))
                self.proc.stdin.flush()
                header = wire.read_header(self.proc.stdout)
                if header.get("ok") is not True:
                    box["out"] = (header, {})
                    return
                shapes = expect(header) if expect else {}
                box["out"] = (header, wire.read_tensors(self.proc.stdout, header, shapes))
            except BaseException as exc:  # noqa: BLE001  (handed to the waiting thread)
                box["exc"] = exc

        worker = threading.Thread(target=talk, daemon=True)
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            self.kill()
            raise self._error(op, f"no answer within {timeout:g} s (the engine was killed)")
        if "exc" in box:
            exc = box["exc"]
            self.kill()
            if isinstance(exc, (BrokenPipeError, wire.WireError, OSError, ValueError)):
                code = self.proc.poll()
                why = f"{exc}" + (f"; the process exited with code {code}" if code is not None else "")
                raise self._error(op, why)
            raise exc
        header, tensors = box["out"]
        if header.get("ok") is not True:
            code = str(header.get("code", "failed"))
            raise EngineRefused(self._message(op, f"refused ({code}): {header.get('error', '')}"), code)
        return header, tensors

    def _error(self, op, why: str) -> EngineError:
        if self.proc.poll() is not None:
            self._drainer.join(timeout=2)  # the last lines a dying engine wrote
        return EngineError(self._message(op, why))

    def _message(self, op, why: str) -> str:
        tail = self.stderr_tail()
        return f"engine {' '.join(self.argv)}: {op}: {why}" + (
            f"; stderr tail:\n{tail}" if tail else "; stderr: (empty)"
        )

    def kill(self) -> None:
        _kill_group(self.proc)

    def close(self, timeout: float) -> None:
        """Ask the engine to close, wait up to `timeout`, then kill it."""
        if self.proc.poll() is None:
            try:
                self.exchange({"op": "close"}, None, timeout)
                self.proc.wait(timeout=timeout)
            except (EngineError, subprocess.TimeoutExpired):
                pass
        self.kill()
        for pipe in (self.proc.stdin, self.proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the engine and, on POSIX, every process it started (its own session)."""
    if proc.poll() is None:
        try:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
        except OSError:
            pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - a process that ignores SIGKILL
        pass
