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

from helpers import ROOT, write_csv, write_jsonl

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


def test_the_parent_of_the_workers_leaves_spacy_to_them(tmp_path):
    """With a model and workers, the parent only reads, hands out and writes: loading spaCy there took time
    and memory from the cores the workers need (docs/performance.md)."""
    code = ("import sys; from classifier.api import scorer_spec; from classifier.batch.workers import Scoring; "
            "s = Scoring(scorer_spec(), workers=2); print(s.model_name, 'spacy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True)
    model, loaded = out.stdout.split()
    assert model == json.loads((ROOT / "models" / "current.json").read_text())["version"]
    assert loaded == "False"


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


def store_counts(result) -> str:
    """The flag store line of a scan's report, without the store's path."""
    (line,) = [x for x in result.output.splitlines() if x.startswith("flag store ")]
    return line.split(": ", 1)[1]


def test_a_resumed_scan_reports_the_store_counts_of_an_unbroken_scan(tmp_path, monkeypatch):
    """The store keeps what a scan did after its last checkpoint; resumed, the scan counts it as it did then."""
    import shutil

    from classifier.batch.checkpoint import Checkpoint
    from classifier.batch.scan import Flagger

    punched = "IP says her ex punched her in the face"
    first = [[f"I{n}", f"{punched} ({n})"] for n in range(1, 9)]
    logs = write_csv(tmp_path / "first.csv", ["incident_id", "text"], first)
    no_crimes = write_csv(tmp_path / "none.csv", ["crime_id", "incident_id"], [])
    scan = ["--rules-only", "--workers", 1, "-q"]
    invoke("scan", logs, "--crimes", no_crimes, "-o", tmp_path / "first.jsonl", "--db", tmp_path / "base.sqlite", *scan)
    for name in ("whole", "resumed"):
        shutil.copy(tmp_path / "base.sqlite", tmp_path / f"{name}.sqlite")
    changed = f"{punched}, and kicked her when she was on the floor"
    second = write_csv(tmp_path / "second.csv", ["incident_id", "text"], [
        ["I1", f"{punched} (1)"], ["I2", f"{punched} (2)"],  # already held; the checkpoint is taken after these
        ["I3", f"{punched} (3)"], ["I4", changed], ["N5", punched], ["I6", f"{punched} (6)"], ["I7", changed],
        ["I8", f"{punched} (8)"], ["N9", punched],  # the scan is stopped before these
    ])
    crimes = write_csv(tmp_path / "crimes.csv", ["crime_id", "incident_id", "label"],
                       [["20/3/26", "I3", "violence_with_injury"], ["20/6/26", "I6", "violence_with_injury"]])
    whole = invoke("scan", second, "--crimes", crimes, "-o", tmp_path / "whole.jsonl",
                   "--db", tmp_path / "whole.sqlite", *scan)
    assert store_counts(whole) == ("2 new, 2 flagged again after the text changed, 3 already held, 0 already decided, "
                                   "2 closed as already recorded")

    dues, calls = iter(range(1, 1000)), iter(range(1, 1000))
    monkeypatch.setattr(Checkpoint, "due", lambda self: next(dues) == 2)
    original = Flagger.__call__

    def stopped_at_the_eighth(self, *args):
        if next(calls) == 8:
            raise KeyboardInterrupt
        return original(self, *args)

    monkeypatch.setattr(Flagger, "__call__", stopped_at_the_eighth)
    output, db = tmp_path / "resumed.jsonl", tmp_path / "resumed.sqlite"
    stopped = CliRunner().invoke(cli, [str(a) for a in ("scan", second, "--crimes", crimes, "-o", output, "--db", db,
                                                        *scan)])
    assert stopped.exit_code == 130 and not output.exists()  # stopped as by Ctrl-C
    assert json.loads((tmp_path / ".resumed.jsonl.checkpoint.json").read_text())["incidents"] == 2
    monkeypatch.undo()
    resumed = invoke("scan", second, "--crimes", crimes, "-o", output, "--db", db, *scan, "--resume")
    assert "resuming after 2 incidents" in resumed.output
    assert store_counts(resumed) == store_counts(whole)
    assert without_times(output) == without_times(tmp_path / "whole.jsonl")
    flags = "SELECT incident_id, status, text_sha256 FROM flags ORDER BY id"
    import sqlite3

    assert sqlite3.connect(db).execute(flags).fetchall() == sqlite3.connect(tmp_path / "whole.sqlite").execute(
        flags).fetchall()


def test_resume_after_a_finished_scan_says_so_and_leaves_its_output(tmp_path):
    logs = write_csv(tmp_path / "logs.csv", ["incident_id", "text"], [["A", "IP says her ex punched her in the face"],
                                                                     ["B", "lost wallet on the bus"]])
    crimes = write_csv(tmp_path / "crimes.csv", ["crime_id", "incident_id"], [])
    output, db = tmp_path / "flags.jsonl", tmp_path / "flags.sqlite"
    args = ["scan", logs, "--crimes", crimes, "-o", output, "--db", db, "--rules-only", "--workers", 1, "-q"]
    invoke(*args)
    marker = tmp_path / ".flags.jsonl.finished.json"
    assert marker.exists() and not (tmp_path / ".flags.jsonl.checkpoint.json").exists()
    written = output.read_bytes()

    again = invoke(*args, "--resume")
    assert re.search(rf"nothing to resume: this run finished at \S+ and {re.escape(str(output))} is complete; it is "
                     r"left as it is \(run without --resume to start again\)", again.output)
    assert "scanned" not in again.output and "flag store" not in again.output
    assert output.read_bytes() == written  # scanned_at included

    # Other input is another run: --resume has nothing to carry on, and starts from the beginning.
    write_csv(logs, ["incident_id", "text"], [["A", "IP says her ex punched her in the face"]])
    other = invoke(*args, "--resume")
    assert "nothing to resume: no checkpoint beside the output" in other.output
    assert "scanned 1 incidents" in other.output
    assert json.loads(marker.read_text())["written"] == 1
