#!/usr/bin/env bash
# Sets up harness on a Debian/Ubuntu machine: a software Vulkan driver when no GPU driver exists,
# a virtual environment in .venv, and the project installed into it (with the test extra on --test).
# Usage: bash scripts/setup.sh [--test]
# SETUP_ROOT (default /) is the filesystem root searched for Vulkan drivers; tests point it at a
# fake tree. SETUP_SOURCE_ONLY=1 defines the functions and returns (tests call them one by one).
set -euo pipefail

ROOT=${SETUP_ROOT:-}

# A Vulkan ICD manifest (lavapipe, NVIDIA, AMD/RADV, Intel ...) in any of the loader's standard
# directories. Globs, not `ls`: a missing directory must not fail the test under pipefail.
vulkan_icds() {
  local dir f
  for dir in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
    for f in "$ROOT$dir"/*.json; do
      [ -f "$f" ] && echo "$f"
    done
  done
  return 0
}

# The Vulkan loader itself (libvulkan.so.1) in the usual library directories.
have_vulkan_loader() {
  local dir
  for dir in /usr/lib/x86_64-linux-gnu /usr/lib/aarch64-linux-gnu /lib/x86_64-linux-gnu \
             /lib/aarch64-linux-gnu /usr/lib64 /usr/lib /usr/local/lib; do
    [ -e "$ROOT$dir/libvulkan.so.1" ] && return 0
  done
  return 1
}

have_vulkan_icd() {
  [ -n "$(vulkan_icds)" ] && have_vulkan_loader
}

# How to run a root command here: "" as root, "sudo" when sudo works without a password
# prompt we cannot answer, else "none".
privilege() {
  if [ "$(id -u)" -eq 0 ]; then
    echo ""
  elif command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then
    echo "sudo"
  else
    echo "none"
  fi
}

apt_install() {
  local how
  how=$(privilege)
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: please install: $* (no apt-get here), then run this script again" >&2
    return 1
  fi
  if [ "$how" = "none" ]; then
    echo "setup: installing $* needs root; run this as root (or with sudo), then run this script again:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y $*" >&2
    return 1
  fi
  $how apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $how apt-get install -y -qq "$@" >/dev/null
}

[ "${SETUP_SOURCE_ONLY:-}" = "1" ] && return 0 2>/dev/null

cd "$(dirname "$0")/.."
extra=""
[ "${1:-}" = "--test" ] && extra="[test]"

# wgpu needs a Vulkan loader and a driver; without a GPU driver, Mesa's lavapipe is the software one.
if have_vulkan_icd; then
  echo "setup: Vulkan driver(s) found: $(vulkan_icds | xargs -n1 basename | tr '\n' ' ')" >&2
else
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
