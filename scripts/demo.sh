#!/usr/bin/env bash
# Runs the bot on a fresh machine: installs into .venv, then the console demo when no
# TELEGRAM_BOT_TOKEN is set (SQLite, no network), or the real bot with long polling.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet -e .
if [ -z "${TELEGRAM_BOT_TOKEN:-}" ] && ! grep -qs '^TELEGRAM_BOT_TOKEN=.' .env; then
  exec .venv/bin/python -m bot demo
fi
exec .venv/bin/python -m bot run
