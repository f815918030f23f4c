"""`python -m bot demo` works on a fresh checkout: no token, no network, sample meetings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_console_demo_onboards_and_registers(tmp_path: Path) -> None:
    script = "\n".join(["/start", "3", "6", "7", "/rencontres", "1", "/mesinscriptions", "quitter", ""])
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--database", str(tmp_path / "demo.db")],
        input=script,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Quelle est votre profession" in out
    assert "Verdun" in out and "Bar-le-Duc" in out and "Saint-Dizier" in out
    assert "Inscription confirmée" in out
    assert "Vos inscriptions" in out
    assert "Traceback" not in done.stderr
