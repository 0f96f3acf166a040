"""``firegw policy`` and ``firegw grades``: the command-line views of the rule layer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from assessed import assess

from gateway.casework.engine import RuleEngine
from gateway.cli import main
from gateway.ingest.registry import registry_to_toml
from gateway.store import HazardStore
from rules.policy import load_policy
from simulators.fleet import generate_fleet


def test_policy_shows_the_default_and_checks_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert main(["policy"]) == 0
    out = capsys.readouterr().out
    assert "municipal-3colour" in out
    assert "yellow   when yellow_items >= 3" in out
    assert "hydrant         hydrant_low_pressure     -> Y10" in out
    assert "Y10 contradicts G4, G6" in out
    assert "camera          ebike_in_lift            -> (event, grades nothing)" in out
    assert "G3   valid 365 d  evidence: assessment, drill" in out

    bad = tmp_path / "bad.toml"
    bad.write_text(
        'extends = "default"\nid = "x"\n[signals.smoke_detector]\noffline = ["Y99"]\n'
        "[thresholds.hydrant]\nmin = 1\n"
    )
    assert main(["policy", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "signals.smoke_detector.offline: unknown criterion 'Y99'" in err
    assert "thresholds.hydrant" in err
    assert "unknown threshold(s) min" in err


def test_grades_lists_the_latest_grade_of_every_estate(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    registry = generate_fleet(
        estates=2, smoke_per_estate=3, hydrants_per_estate=1, cameras_per_estate=0, modbus_share=0.0, seed=3
    )
    (tmp_path / "registry.toml").write_text(registry_to_toml(registry), encoding="utf-8")
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "gateway.toml").write_text('[gateway]\nregistry = "registry.toml"\ndata_dir = "data"\n')
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    engine = RuleEngine(
        registry, load_policy(), HazardStore(f"sqlite:///{data / 'hazards.sqlite'}"), clock=lambda: now
    )
    assess(engine, ["E001", "E002"])
    engine.hazards.file(
        estate_id="E002", criterion="R3", location="地下室", description="储存烟花爆竹", reporter="x"
    )
    engine.store.close()
    assert main(["grades", "--config", str(tmp_path / "gateway.toml")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("E001       green")
    assert out[1].startswith("E002       red")
    assert "R3: 储存烟花爆竹（自 2026-11-23 10:00 起）" in out[1]
