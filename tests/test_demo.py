"""`python -m bot demo` works on a fresh checkout: no token, no network, sample meetings."""

from __future__ import annotations

import os
import re
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


def run_demo(tmp_path: Path, lines: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "TELEGRAM_BOT_TOKEN"}
    return subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--database", str(tmp_path / "demo.db")],
        input="\n".join([*lines, "quitter", ""]),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )


def test_console_demo_keeps_every_file_labels_other_people_and_prints_alerts(tmp_path: Path) -> None:
    """Camille follows every group and takes the calendar file of the soonest session; Dominique
    cancels that session (Camille gets a notice and the cancelling .ics), then tries a poll for
    the registrants of a group that has no meeting (a button alert)."""
    done = run_demo(
        tmp_path,
        [
            *("/start", "3", "1", "2", "3", "4", "5", "6", "7", "/rencontres", "1", "1"),
            "1",  # the last message is the calendar file: no button to press, so this is text
            *("/coord", "/gerer", "1", "1", "4", "1"),
            *("/sondage", "Quel jour pour la réunion ?", "Lundi\nMardi", "1", "1", "1", "vendredi 18h", "1", "3"),
        ],
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr == ""  # no PTBUserWarning, no log noise, no traceback
    files = sorted(p.name for p in (tmp_path / "demo-out").iterdir())
    assert files == ["01-rencontre-1.ics", "02-rencontre-1.ics"], files  # the second did not overwrite the first
    assert b"METHOD:PUBLISH" in (tmp_path / "demo-out" / files[0]).read_bytes()
    assert b"METHOD:CANCEL" in (tmp_path / "demo-out" / files[1]).read_bytes()
    assert out.count("Je n'ai pas compris") == 1  # "1" after the file did not press an older button
    assert "🤖 → Camille : ❌ Session annulée" in out and "🤖 → Camille : 📎 demo-out/02-rencontre-1.ics" in out
    assert "⚠️  Aucune rencontre à venir dans ce groupe." in out
    assert "demo-out/" in out.split("\n[", 1)[0]  # the introduction says where files go


def test_qr_codes_are_named_after_their_session(tmp_path: Path) -> None:
    done = run_demo(tmp_path, ["/coord", "/lien", "1"])
    assert done.returncode == 0 and done.stderr == "", done.stderr[-2000:]
    names = sorted(p.name for p in (tmp_path / "demo-out").iterdir())
    assert names and all(re.fullmatch(r"\d\d-qr-session-\d+\.png", n) for n in names), names
