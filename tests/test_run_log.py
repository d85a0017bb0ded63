"""`--log-file`: one record per run for whoever watches the nightly job; counts and errors, never text."""

from __future__ import annotations

import json

from click.testing import CliRunner

from classifier import __version__
from classifier.cli import cli

from helpers import write_csv

TEXT = "RP says her partner grabbed her by the throat and pushed her into the wall"


def test_each_run_appends_one_record_with_its_counts_and_no_text(tmp_path):
    logs = write_csv(tmp_path / "logs.csv", ["incident_id", "text"], [["A", TEXT], ["B", "lost wallet on a bus"]])
    crimes = write_csv(tmp_path / "crimes.csv", ["crime_id", "incident_id"], [])
    log = tmp_path / "logs" / "runs.jsonl"
    ok = CliRunner().invoke(cli, ["scan", str(logs), "--crimes", str(crimes), "-o", str(tmp_path / "f.jsonl"),
                                  "--rules-only", "--workers", "1", "-q", "--log-file", str(log)])
    assert ok.exit_code == 0, ok.output
    missing = CliRunner().invoke(cli, ["scan", str(logs), "--crimes", str(tmp_path / "nope.csv"), "-o",
                                       str(tmp_path / "g.jsonl"), "--rules-only", "--log-file", str(log)])
    assert missing.exit_code == 1
    first, second = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    assert first["command"] == "scan" and first["status"] == "ok" and first["version"] == __version__
    assert (first["scored"], first["written"], first["rejected"]) == (2, 1, 0)
    assert first["inputs"][0] == {"path": str(logs), "bytes": logs.stat().st_size}
    assert first["seconds"] >= 0 and first["started_at"] <= first["finished_at"]
    assert second["status"] == "error" and "nope.csv" in second["error"]
    assert "throat" not in log.read_text(encoding="utf-8")


def test_a_log_that_cannot_be_written_stops_the_run_before_it_starts(tmp_path):
    logs = write_csv(tmp_path / "logs.csv", ["incident_id", "text"], [["A", TEXT]])
    (tmp_path / "taken").write_text("a file, not a folder", encoding="utf-8")
    result = CliRunner().invoke(cli, ["classify", str(logs), "-o", str(tmp_path / "s.jsonl"), "--rules-only",
                                      "--log-file", str(tmp_path / "taken" / "runs.jsonl")])
    assert result.exit_code == 1 and "cannot write the run log" in result.output
    assert not (tmp_path / "s.jsonl").exists()
