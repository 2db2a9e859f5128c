#!/usr/bin/env bash
# Creates the venv with the official Pulsar client (C++ core) used by the
# compatibility tests. Idempotent. Needs python3 with the venv module
# (Debian: apt-get install python3-venv) and access to PyPI.
set -euo pipefail
VENV="${FMESH_BROKER_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/fmesh/broker-venv}"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import pulsar' 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check 'pulsar-client==3.13.0'
fi
echo "$VENV/bin/python"
