#!/usr/bin/env bash
# Runs every test on a fresh machine: creates .venv, installs the project, makes sure
# PostgreSQL is up (the storage tests run on SQLite AND PostgreSQL), checks the code (ruff:
# lint, sorted imports, format; mypy: types), then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet -e ".[test]"
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  fi
fi
CODE=(bot handlers storage)
.venv/bin/ruff check "${CODE[@]}"
.venv/bin/ruff format --check --quiet "${CODE[@]}"
.venv/bin/mypy "${CODE[@]}"
exec .venv/bin/python -m pytest "$@"
