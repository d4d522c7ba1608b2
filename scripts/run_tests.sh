#!/usr/bin/env bash
# Set up .venv if needed, then lint, type-check and run every test (unit + integration).
# PostgreSQL tests use MODYN_POSTGRES_URL (default postgresql+psycopg2://postgres@127.0.0.1:5432/postgres)
# and skip with a message when no server answers, unless MODYN_REQUIRE_POSTGRES=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/setup_venv.sh
echo "== ruff"; ruff check modyn tests integrationtests benchmarks scripts conftest.py
echo "== mypy"; mypy
echo "== pytest"
set +e
python -m pytest -q "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi
exit "$rc"
