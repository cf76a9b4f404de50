"""Plugging into editors and shells: shell completion generated from the parser (shtab), a
pre-commit hook running `harness validate`, and a yaml-language-server schema line in every
shipped contract pointing at the shipped schema."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
from ruamel.yaml import YAML

from contracts import CONTRACT_DIR, SCHEMA_PATH
from harness.cli import main
from harness.contract.schema import schema
from tests.contract_text import SHIPPED, edit, gpu_text, write

ROOT = Path(__file__).resolve().parents[1]
HOOKS = ROOT / ".pre-commit-hooks.yaml"
BASH = shutil.which("bash")


def _completion(shell: str, capsys) -> str:
    assert main(["completion", shell]) == 0
    return capsys.readouterr().out


@pytest.mark.skipif(BASH is None, reason="bash not on PATH")
def test_bash_completion_completes_commands_and_options(tmp_path, capsys):
    script = tmp_path / "harness.bash"
    script.write_text(_completion("bash", capsys))
    assert subprocess.run([BASH, "-n", str(script)], timeout=60).returncode == 0

    def complete(*words: str) -> list[str]:
        line = " ".join(words)
        probe = (
            f"source {script}; COMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; "
            f'COMP_LINE="{line}"; COMP_POINT=${{#COMP_LINE}}; _shtab_harness; '
            'printf "%s\\n" "${COMPREPLY[@]}"'
        )
        done = subprocess.run([BASH, "-c", probe], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("harness", "ver") == ["verify"]
    assert "--format" in complete("harness", "verify", "c.yaml", "--for")
    assert set(complete("harness", "completion", "")) == {"bash", "zsh"}


def test_zsh_completion_is_a_compdef_for_harness(capsys):
    text = _completion("zsh", capsys)
    assert text.startswith("#compdef harness") and "verify" in text and "--format" in text


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh not on PATH: the zsh syntax check did not run")
def test_zsh_completion_parses_in_zsh(capsys):
    text = _completion("zsh", capsys)
    done = subprocess.run([shutil.which("zsh"), "-n", "/dev/stdin"], input=text, text=True, timeout=60)
    assert done.returncode == 0


def test_completion_rejects_an_unknown_shell(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["completion", "fish"])
    assert exc.value.code == 2


def test_pre_commit_hook_runs_harness_validate_on_contract_files(tmp_path, capsys):
    (hook,) = YAML(typ="safe").load(HOOKS.read_text())
    assert hook["id"] == "harness-validate" and hook["language"] == "python"
    argv = hook["entry"].split()
    assert argv[0] == "harness"  # the console script pyproject installs
    files = re.compile(hook["files"])
    assert all(files.search(p.relative_to(ROOT).as_posix()) for p in SHIPPED)
    assert not files.search("contracts/schema/contract.schema.json")
    assert not files.search("docs/contract-format.md")
    assert main([*argv[1:], *map(str, SHIPPED)]) == 0
    assert capsys.readouterr().out == ""  # --quiet: silent when all is well
    bad = write(tmp_path, edit(gpu_text(), "status: DRAFT", "status: NOPE"))
    assert main([*argv[1:], str(bad)]) == 2
    assert "status" in capsys.readouterr().out


@pytest.mark.parametrize("contract", SHIPPED, ids=lambda p: p.name)
def test_shipped_contract_names_its_schema_for_editors(contract):
    first = contract.read_text(encoding="utf-8").splitlines()[0]
    match = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert match, first
    assert (contract.parent / match.group(1)).resolve() == SCHEMA_PATH.resolve()


def test_schema_id_is_a_stable_url_shaped_identifier():
    parsed = urlparse(schema()["$id"])
    assert parsed.scheme == "https" and parsed.netloc and parsed.path.endswith(".json")
    assert SCHEMA_PATH.parent.parent == CONTRACT_DIR
