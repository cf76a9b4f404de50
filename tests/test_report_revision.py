"""The revision and contract name a report records come from the repository that holds the
contract (the user's), not from harness's own checkout: a pip-installed harness has none."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from harness.report.revision import contract_name, contract_revision, git_revision
from tests.test_report import args, contract_path, read_statement  # noqa: F401 (fixture)
from tests.engine_support import null_options, write_contract
from harness.commands import verify

GIT = shutil.which("git")
pytestmark = pytest.mark.skipif(GIT is None, reason="git not on PATH")


def _git(repo, *argv) -> str:
    done = subprocess.run(
        [GIT, "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false", *argv],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip()


@pytest.fixture
def user_repo(tmp_path):
    """A user's repository, unrelated to harness's checkout, with one committed contract."""
    repo = tmp_path / "user"
    (repo / "contracts").mkdir(parents=True)
    _git(repo, "init", "-q")
    return repo


def _commit_all(repo) -> str:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "contract")
    return _git(repo, "rev-parse", "HEAD")


def test_contract_revision_is_the_user_repository_commit(user_repo):
    contract = user_repo / "contracts" / "x.yaml"
    contract.write_text("name: x\n")
    commit = _commit_all(user_repo)
    assert commit != git_revision()["commit"]  # not harness's own checkout
    assert contract_revision(contract) == {"commit": commit, "dirty": False}
    (user_repo / "notes.txt").write_text("untracked")
    assert contract_revision(contract) == {"commit": commit, "dirty": True}


def test_contract_name_is_repository_relative(user_repo, monkeypatch, tmp_path):
    contract = user_repo / "contracts" / "x.yaml"
    contract.write_text("name: x\n")
    monkeypatch.chdir(tmp_path)  # the CLI's path would be user/contracts/..
    assert contract_name(contract) == "contracts/x.yaml"
    assert contract_name("user/contracts/x.yaml") == "contracts/x.yaml"


def test_contract_name_outside_a_repository_is_cwd_relative_or_absolute(tmp_path, monkeypatch):
    loose = tmp_path / "loose" / "c.yaml"
    loose.parent.mkdir()
    loose.write_text("name: x\n")
    monkeypatch.chdir(tmp_path)
    assert contract_name(loose) == "loose/c.yaml"
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert contract_name(loose) == loose.resolve().as_posix()


def test_verify_report_names_the_user_repository(user_repo, contract_path, monkeypatch):  # noqa: F811
    target = user_repo / "contracts" / "c.yaml"
    shutil.copyfile(contract_path, target)
    commit = _commit_all(user_repo)
    monkeypatch.chdir(user_repo.parent)
    c = write_contract(user_repo / "contracts", json.loads(target.read_text()))
    assert _git(user_repo, "status", "--porcelain") == ""  # write_contract wrote the same bytes
    report = user_repo.parent / "r.json"
    verify.run(args(target, report=str(report)), runner_options=null_options(c, user_repo.parent))
    s = read_statement(report)
    assert s["predicate"]["revision"] == {"commit": commit, "dirty": False}
    assert s["predicate"]["contract"]["path"] == "contracts/c.yaml"
    assert {"name": "revision", "digest": {"gitCommit": commit}} in s["subject"]
    assert any(x["name"] == "contract:contracts/c.yaml" for x in s["subject"])
