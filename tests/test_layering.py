"""The layering rules of docs/architecture.md, checked on the source: nothing under backends/
imports from harness/, and the engine reaches the wgpu backend only through the registry
(harness/devices.py, harness/falsifiers/* import no backends.wgpu module)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports (absolute names; relative imports are not used here)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def offenders(files, forbidden: str, root: Path = ROOT) -> list[str]:
    return sorted(
        f"{f.relative_to(root)} imports {m}"
        for f in files
        for m in imported_modules(f)
        if m == forbidden or m.startswith(forbidden + ".")
    )


def test_backends_import_nothing_from_harness():
    assert offenders(sorted((ROOT / "backends").rglob("*.py")), "harness") == []


def test_engine_reaches_wgpu_only_through_the_registry():
    files = [ROOT / "harness" / "devices.py", *sorted((ROOT / "harness" / "falsifiers").glob("*.py"))]
    assert offenders(files, "backends.wgpu") == []


def test_the_check_catches_a_planted_upward_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from harness.settings import cache_dir\nimport harness.judge\nimport harnesslike\n")
    assert offenders([bad], "harness", tmp_path) == ["bad.py imports harness.judge", "bad.py imports harness.settings"]
