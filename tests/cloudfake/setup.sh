#!/usr/bin/env bash
# setup.sh: makes the Python venv of the cloud test servers and prints the
# path of its python on stdout (nothing else goes to stdout).
#
#   py=$(tests/cloudfake/setup.sh)
#
# The venv lives outside the repository, in
# ${XDG_CACHE_HOME:-$HOME/.cache}/skein-test/venv-cloud, with the packages of
# requirements.txt next to this script. It is built once (PyPI is reached the
# first time) and reused while requirements.txt and the base python stay the
# same: a stamp file holds a hash of both, written only after a complete
# install, so an interrupted build is redone. Concurrent callers serialise on
# a lock file (flock), so two tests starting at once never build over each
# other; the fast path (stamp matches, python runs) takes no lock.
#
# The base interpreter is $SKEIN_PYTHON, else python3 from PATH. On Debian
# its venv module comes in python3-venv (scripts/deps.sh --test).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
req=$here/requirements.txt
cache=${XDG_CACHE_HOME:-$HOME/.cache}/skein-test
venv=$cache/venv-cloud
base=${SKEIN_PYTHON:-python3}

log() { echo "cloudfake setup: $*" >&2; }

if ! command -v "$base" >/dev/null; then
  log "no $base on PATH (on Debian: apt-get install python3 python3-venv, or scripts/deps.sh --test)"
  exit 1
fi
# The key: the requirements and the exact base interpreter (a venv links to
# it, so another python needs another venv).
base_id=$("$base" -c 'import sys; print(sys.version.split()[0], sys.base_prefix)')
key=$( (cat "$req"; echo "$base_id") | sha256sum | cut -d' ' -f1)

ready() {
  [[ -f $venv/.skein-stamp && $(cat "$venv/.skein-stamp") == "$key" ]] &&
    "$venv/bin/python" -c 'import sys' 2>/dev/null
}

if ready; then
  echo "$venv/bin/python"
  exit 0
fi

mkdir -p "$cache"
exec 9>"$cache/venv-cloud.lock"
if ! flock -w 900 9; then
  log "timed out waiting for another setup.sh holding $cache/venv-cloud.lock"
  exit 1
fi
# Another caller may have built it while this one waited for the lock.
if ready; then
  echo "$venv/bin/python"
  exit 0
fi

log "building the venv in $venv (first run, or requirements.txt changed)"
buildlog=$cache/venv-cloud.log
rm -rf "$venv"
if ! "$base" -m venv "$venv" >"$buildlog" 2>&1; then
  cat "$buildlog" >&2
  log "python -m venv failed (on Debian: apt-get install python3-venv, or scripts/deps.sh --test)"
  rm -rf "$venv"
  exit 1
fi
if ! "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
  --timeout 60 -r "$req" >>"$buildlog" 2>&1; then
  tail -n 40 "$buildlog" >&2
  log "pip install -r requirements.txt failed (log: $buildlog)"
  rm -rf "$venv"
  exit 1
fi
if ! "$venv/bin/python" -c 'import moto.server, cryptography' >>"$buildlog" 2>&1; then
  tail -n 20 "$buildlog" >&2
  log "the venv does not import moto.server and cryptography"
  rm -rf "$venv"
  exit 1
fi
echo "$key" >"$venv/.skein-stamp"
log "venv ready"
echo "$venv/bin/python"
