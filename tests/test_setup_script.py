"""Issue 16 item 8: scripts/setup.sh detects installed Vulkan drivers (lavapipe, NVIDIA, AMD,
Intel ICDs) under `set -euo pipefail`, and without root or sudo prints the exact command instead
of failing obscurely. The script's functions run against a fake root (SETUP_ROOT)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "setup.sh"
LOADER = "usr/lib/x86_64-linux-gnu/libvulkan.so.1"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _run(fake_root: Path, body: str) -> subprocess.CompletedProcess:
    script = f'set -euo pipefail\nSETUP_SOURCE_ONLY=1 SETUP_ROOT="{fake_root}" source "{SCRIPT}"\n{body}\n'
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)


def _tree(root: Path, *files: str) -> Path:
    for f in files:
        (root / f).parent.mkdir(parents=True, exist_ok=True)
        (root / f).write_text("{}")
    return root


@pytest.mark.parametrize(
    "icd",
    [
        "usr/share/vulkan/icd.d/lvp_icd.x86_64.json",  # lavapipe (Debian's mesa-vulkan-drivers)
        "etc/vulkan/icd.d/nvidia_icd.json",  # NVIDIA's driver
        "usr/share/vulkan/icd.d/radeon_icd.x86_64.json",  # AMD RADV
        "usr/share/vulkan/icd.d/intel_icd.x86_64.json",  # Intel ANV
    ],
)
def test_an_installed_driver_is_detected(tmp_path, icd):
    root = _tree(tmp_path, icd, LOADER)
    (root / "etc/vulkan/icd.d").mkdir(parents=True, exist_ok=True)  # the empty dir of the bug
    proc = _run(root, "have_vulkan_icd && echo FOUND")
    assert proc.returncode == 0 and "FOUND" in proc.stdout, proc.stderr


@pytest.mark.parametrize("files", [(), (LOADER,), ("usr/share/vulkan/icd.d/lvp_icd.x86_64.json",)])
def test_missing_driver_or_loader_is_not_detected(tmp_path, files):
    root = _tree(tmp_path, *files)
    proc = _run(root, "if have_vulkan_icd; then echo FOUND; else echo MISSING; fi")
    assert proc.returncode == 0 and "MISSING" in proc.stdout, proc.stderr


def test_without_root_or_sudo_the_exact_command_is_printed(tmp_path):
    body = (
        "id() { echo 1000; }\nsudo() { return 1; }\n"
        "apt-get() { echo APT-CALLED; }\n"
        "if apt_install mesa-vulkan-drivers libvulkan1; then echo OK; else echo REFUSED; fi"
    )
    proc = _run(tmp_path, body)
    assert "REFUSED" in proc.stdout and "APT-CALLED" not in proc.stdout
    assert "sudo apt-get update && sudo apt-get install -y mesa-vulkan-drivers libvulkan1" in proc.stderr


def test_as_root_apt_runs(tmp_path):
    body = 'id() { echo 0; }\napt-get() { echo "APT $*"; }\napt_install mesa-vulkan-drivers libvulkan1 && echo OK'
    proc = _run(tmp_path, body)
    assert "APT update -qq" in proc.stdout and "OK" in proc.stdout, proc.stderr
