"""The README's first command: ``firegw demo`` runs the whole embedded chain (in-process broker, simulated
estates incl. Modbus hydrants, gateway, SQLite) and stops cleanly by itself with ``--duration``."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path


def test_demo_runs_end_to_end_and_stores_what_the_simulators_sent(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "demo",
            "--duration",
            "12",
            "--speed",
            "120",
            "--quiet",
            "--api-port",
            "0",
            "--data-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = result.stdout
    heard = re.search(r"devices heard (\d+)/(\d+)", summary)
    assert heard, summary
    assert int(heard.group(1)) > 0
    records = int(re.search(r"records (\d+)", summary).group(1))  # type: ignore[union-attr]
    with sqlite3.connect(tmp_path / "telemetry.sqlite") as db:
        device_measurements = "'smoke_detector', 'hydrant', 'camera', 'device_event'"
        (stored,) = db.execute(
            f"SELECT COUNT(*) FROM points WHERE measurement IN ({device_measurements})"
        ).fetchone()
        kinds = {row[0] for row in db.execute("SELECT DISTINCT measurement FROM points")}
    assert stored == records > 0, "every accepted record is stored"
    assert {"smoke_detector", "hydrant", "device_event"} <= kinds
    # The rule layer ran on the demo's clock: every estate has a grade, written to the telemetry store.
    assert {"estate_grade", "device_signal", "hazard"} <= kinds
    grades = re.search(r"grades: (.*?);", summary)
    assert grades, summary
    with sqlite3.connect(tmp_path / "hazards.sqlite") as db:
        graded = {row[0] for row in db.execute("SELECT DISTINCT estate_id FROM grade_changes")}
        (hazards,) = db.execute("SELECT COUNT(*) FROM hazards").fetchone()
    assert len(graded) == 4
    assert hazards > 0, "the demo's incidents open hazards"
