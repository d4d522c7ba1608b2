#!/usr/bin/env bash
# Create ./.venv (Python 3.11) and install Modyn with its test and example extras, once per setup.py
# version. Source it (`. scripts/setup_venv.sh`) to also activate the venv. Safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "Modyn needs Python 3.11; $PYTHON is $("$PYTHON" --version 2>&1). Set PYTHON=/path/to/python3.11." >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
stamp=".venv/.modyn-installed-$(cat setup.py | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "Installing Modyn and its dependencies into .venv (first run takes a minute or two)..."
  .venv/bin/python -m pip install -q --upgrade pip
  # torch is pinned in setup.py to the CPU build on these machines' disk (an unpinned torch pulls CUDA).
  .venv/bin/python -m pip install -q -e '.[test]'
  rm -f .venv/.modyn-installed-*
  touch "$stamp"
fi
set +u
. .venv/bin/activate
set -u
