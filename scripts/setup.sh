#!/usr/bin/env bash
# Sets up harness on a Debian/Ubuntu machine: a software Vulkan driver when no GPU driver exists,
# a virtual environment in .venv, and the project installed into it (with the test extra on --test).
# Usage: bash scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
extra=""
[ "${1:-}" = "--test" ] && extra="[test]"

have_vulkan_icd() {
  ls /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json 2>/dev/null | grep -q . && ldconfig -p | grep -q libvulkan.so.1
}

apt_install() {
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  if command -v apt-get >/dev/null 2>&1; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
  else
    echo "setup: please install: $* (no apt-get here)" >&2
    return 1
  fi
}

# wgpu needs a Vulkan loader and a driver; without a GPU driver, Mesa's lavapipe is the software one.
if ! have_vulkan_icd; then
  echo "setup: no Vulkan driver found; installing mesa-vulkan-drivers libvulkan1 (lavapipe)" >&2
  apt_install mesa-vulkan-drivers libvulkan1
fi

PY=${PYTHON:-python3}
if ! "$PY" -c "import venv, ensurepip" >/dev/null 2>&1; then
  apt_install python3-venv
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".${extra}"
echo "setup: ready (.venv)" >&2
