#!/usr/bin/env bash
# Installs the Debian packages skein needs, and only those that are missing.
#   scripts/deps.sh          what building and running skeinctl needs
#   scripts/deps.sh --test   also what the test suite needs (clang for the
#                            sanitizer and fuzz builds; openssl and curl for
#                            the test cluster, whose Go comes with the machine;
#                            python3-venv for the cloud test servers)
# It must run as root (or with sudo available) on a Debian-based machine.
set -euo pipefail

pkgs=(gcc make cmake ninja-build pkg-config libc6-dev libuv1-dev libyaml-dev libjansson-dev
  libcurl4-openssl-dev libssl-dev python3)
# The HTTP server: libwebsockets, and its libuv support (a plugin package).
pkgs+=(libwebsockets-dev libwebsockets-evlib-uv)
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=(clang libclang-rt-14-dev llvm)
  # The test cluster (tests/cluster/): certificates, HTTP checks, flock.
  pkgs+=(openssl curl util-linux)
  # The cloud test servers (tests/cloudfake/): a venv for moto and
  # cryptography from PyPI (setup.sh), built with Debian's python3.
  pkgs+=(python3-venv)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

sudo=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    sudo=(sudo)
  else
    echo "deps: need root to install: ${missing[*]}" >&2
    exit 1
  fi
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
