"""Long runs: the same output from any number of workers, resume after SIGKILL, the progress line."""

from __future__ import annotations

import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

from click.testing import CliRunner

from classifier.cli import cli
from classifier.batch.progress import Progress

from helpers import ROOT, write_jsonl

SAMPLE = ROOT / "corpora" / "sample"


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def corpus_logs(tmp_path, n):
    from classifier.corpus import load_corpus

    records = list(load_corpus(ROOT / "corpora" / "incidents", ("train", "dev", "test")))[:n]
    return write_jsonl(tmp_path / "logs.jsonl", [{k: r[k] for k in ("incident_id", "opened_at", "text")}
                                                 for r in records])


def test_two_workers_write_the_same_scores_and_flags_as_one(tmp_path):
    for workers in (1, 2):
        invoke("classify", SAMPLE / "incidents.csv", "-o", tmp_path / f"scores-{workers}.jsonl", "--workers", workers)
        invoke("scan", SAMPLE / "incidents.csv", "--crimes", SAMPLE / "crimes.csv", "-o",
               tmp_path / f"flags-{workers}.csv", "--workers", workers)
    assert (tmp_path / "scores-1.jsonl").read_bytes() == (tmp_path / "scores-2.jsonl").read_bytes()
    one, two = ((tmp_path / f"flags-{w}.csv").read_text(encoding="utf-8") for w in (1, 2))
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?")
    assert stamp.sub("T", one) == stamp.sub("T", two)
    assert one.count("\n") > 5


def without_times(path):
    return re.sub(r'"scanned_at": "[^"]*"', '"scanned_at": ""', path.read_text(encoding="utf-8"))


def scan_command(logs, crimes, output, *extra):
    code = "from classifier.cli import main; main()"
    return [sys.executable, "-c", code, "scan", str(logs), "--crimes", str(crimes), "-o", str(output),
            "--rules-only", "--workers", "1", *extra]


def test_a_scan_killed_twice_and_resumed_writes_what_an_unbroken_scan_writes(tmp_path):
    logs = corpus_logs(tmp_path, 500)
    crimes = write_jsonl(tmp_path / "crimes.jsonl", [{"crime_id": "C1", "incident_id": "nothing-linked"}])
    env = {**os.environ, "INCIDENT_CLASSIFIER_CHECKPOINT_SECONDS": "0.1"}
    whole = tmp_path / "whole.jsonl"
    subprocess.run(scan_command(logs, crimes, whole), check=True, env=env, capture_output=True)

    output = tmp_path / "resumed.jsonl"
    checkpoint = tmp_path / ".resumed.jsonl.checkpoint.json"
    rng = random.Random(7)
    resumed_after = []
    for attempt in range(2):
        extra = ["--resume"] if attempt else []
        process = subprocess.Popen(scan_command(logs, crimes, output, *extra), env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        before = json.loads(checkpoint.read_text())["incidents"] if checkpoint.exists() else 0
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if checkpoint.exists() and json.loads(checkpoint.read_text())["incidents"] > before:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.8))
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not output.exists(), "a killed run must not leave a final output behind"
        resumed_after.append(json.loads(checkpoint.read_text())["incidents"])
    result = subprocess.run(scan_command(logs, crimes, output, "--resume"), env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"resuming after {resumed_after[-1]} incidents" in result.stderr
    assert 0 < resumed_after[0] <= resumed_after[1] < 500
    assert without_times(output) == without_times(whole)
    assert len(set(re.findall(r'"scanned_at": "([^"]*)"', output.read_text()))) == 1
    assert not checkpoint.exists()
    assert not (tmp_path / ".resumed.jsonl.partial").exists()


def test_resume_refuses_a_checkpoint_of_other_input(tmp_path):
    logs = corpus_logs(tmp_path, 40)
    crimes = write_jsonl(tmp_path / "crimes.jsonl", [{"crime_id": "C1", "incident_id": "x"}])
    output = tmp_path / "flags.jsonl"
    (tmp_path / ".flags.jsonl.partial").write_text("")
    (tmp_path / ".flags.rejects.jsonl.partial").write_text("")
    (tmp_path / ".flags.jsonl.checkpoint.json").write_text(json.dumps({"format": 1, "fingerprint": {"other": 1}}))
    result = CliRunner().invoke(cli, ["scan", str(logs), "--crimes", str(crimes), "-o", str(output),
                                      "--rules-only", "--workers", "1", "--resume"])
    assert result.exit_code == 1
    assert "belongs to a run with other input files or settings" in result.output
    assert "Traceback" not in result.output


def test_resume_needs_an_output_file(tmp_path):
    result = CliRunner().invoke(cli, ["classify", str(SAMPLE / "incidents.csv"), "-o", "-", "--rules-only",
                                      "--resume"])
    assert result.exit_code == 1
    assert "--resume needs an output file" in result.output


def test_resume_without_a_checkpoint_starts_from_the_beginning(tmp_path):
    output = tmp_path / "scores.jsonl"
    result = invoke("classify", SAMPLE / "incidents.csv", "-o", output, "--rules-only", "--resume")
    assert "nothing to resume" in result.output
    assert len(output.read_text().splitlines()) == 30  # the sample's incidents


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_shows_count_rate_and_time_left_on_a_terminal_only(monkeypatch):
    clock = iter(range(0, 1000))
    monkeypatch.setattr("classifier.batch.progress.time.monotonic", lambda: next(clock))
    screen = Terminal()
    progress = Progress(stream=screen)
    progress.set_total(10)
    for _ in range(4):
        progress.advance()
    shown = screen.getvalue().split("\r")[-1]
    assert re.search(r"4 / 10 incidents \(40%\) · \d+/s · \d+:\d\d left", shown), shown
    progress.close()
    assert screen.getvalue().endswith("\r")

    for stream, quiet in ((io.StringIO(), False), (Terminal(), True)):
        progress = Progress(stream=stream, quiet=quiet)
        progress.set_total(10)
        for _ in range(10):
            progress.advance()
        progress.close()
        assert stream.getvalue() == ""


def split_sample(folder, parts):
    """The sample's incidents as `parts` CSV partitions, each incident's entries kept together."""
    import csv

    folder.mkdir()
    with open(SAMPLE / "incidents.csv", newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    ids = list(dict.fromkeys(r[0] for r in rows))
    for n in range(parts):
        mine = set(ids[n * len(ids) // parts:(n + 1) * len(ids) // parts])
        with open(folder / f"part-{n}.csv", "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows(r for r in rows if r[0] in mine)
    return folder


def test_dask_engine_on_a_local_cluster_gives_the_flags_of_a_local_scan(tmp_path):
    from dask.distributed import Client, LocalCluster

    from classifier.batch import dask_workers as dask_engine

    parts = split_sample(tmp_path / "parts", 3)
    invoke("scan", SAMPLE / "incidents.csv", "--crimes", SAMPLE / "crimes.csv", "-o", tmp_path / "local.jsonl",
           "--workers", 1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        address = cluster.scheduler_address
        invoke("scan", parts, "--crimes", SAMPLE / "crimes.csv", "-o", tmp_path / "dask.jsonl",
               "--engine", "dask", "--scheduler", address)
        # Each worker built the pipeline and loaded the model once, however many partitions it scored.
        builds = client.run(lambda: dask_engine.worker_scorer.cache_info().misses)
    assert without_times(tmp_path / "dask.jsonl") == without_times(tmp_path / "local.jsonl")
    assert len((tmp_path / "local.jsonl").read_text().splitlines()) > 5
    assert sorted(builds.values()) in ([1, 1], [0, 1])


def test_parquet_partitions_read_like_csv(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from classifier.io.readers import read_incidents

    rows = [{"incident_id": f"I{i}", "entry_seq": k, "text": f"entry {k} of {i}"} for i in range(3) for k in (2, 1)]
    path = tmp_path / "part.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    assert [(i.incident_id, i.text) for i in read_incidents(path)] == [
        (f"I{i}", f"entry 1 of {i}\nentry 2 of {i}") for i in range(3)]
    pq.write_table(pa.Table.from_pylist([{"id": "x"}]), path)
    result = CliRunner().invoke(cli, ["classify", str(path), "-o", "-", "--rules-only"])
    assert result.exit_code == 1
    assert "missing required column" in result.output and "Traceback" not in result.output
