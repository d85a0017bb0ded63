"""Words per second and peak memory of classify, beside a compiled-regex keyword scan of the same text.

    python benchmarks/throughput.py                 # N = 20,000 logs, each run three times
    python benchmarks/throughput.py --n 200000 --skip-rules-only --repeat 1

Builds N logs by sampling entries (lines) of the corpus logs at random, 1 to 6 per log, writes them as one
CSV, then times in the same run, each in its own process:
- a compiled-regex keyword scan (the keyword baseline's words in one alternation) reading the same CSV;
- `classify --rules-only` and `classify` with the default model, with 1 worker and with 2.
Prints words per second, the ratio to the regex scan, and the peak memory of the whole process tree (the
scan and its workers, sampled every 0.5 s): as PSS, which splits pages the processes share (libraries'
code) among them and so counts each page once, and as summed RSS, which counts shared pages once per
process; and the peak RSS of the main process alone.

Each command runs --repeat times (default 3) and its median time counts: these machines' speed varies from
minute to minute, so ratios are taken within one run of this script, never across runs.

Targets (issue #17): the model with one worker at least 0.3 of the regex scan's words per second (goal 0.5);
two workers at least 1.8 times one; peak memory per worker (PSS of the process tree over the workers) at
most 400 MB and not growing with N. `benchmarks/profile_stages.py` shows where the time goes.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier.corpus import load_corpus  # noqa: E402

REGEX_SCAN = r"""
import csv, re, sys
from classifier.evaluation.metrics import KEYWORDS
words = sorted({w for ws in KEYWORDS.values() for w in ws}, key=len, reverse=True)
pattern = re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + r")\b", re.IGNORECASE)
csv.field_size_limit(2**31 - 1)
hits = 0
with open(sys.argv[1], newline="", encoding="utf-8") as fh, open(sys.argv[2], "w", encoding="utf-8") as out:
    for row in csv.DictReader(fh):
        found = pattern.findall(row["text"])
        if found:
            hits += 1
            out.write(row["incident_id"] + "\t" + ",".join(found) + "\n")
print(hits, file=sys.stderr)
"""


def build_logs(path: Path, n: int, seed: int) -> int:
    """Write n logs of entries sampled from the corpus; returns the number of words."""
    entries = [line for record in load_corpus(ROOT / "corpora" / "incidents")
               for line in record["text"].splitlines() if line.strip()]
    rng = random.Random(seed)
    words = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["incident_id", "opened_at", "text"])
        for i in range(n):
            text = "\n".join(rng.choice(entries) for _ in range(rng.randint(1, 6)))
            words += len(text.split())
            writer.writerow([f"T-{i:07d}", "2026-01-01T00:00:00", text])
    return words


def _pss(pid: int) -> int:
    """Proportional set size (kB): resident memory with pages shared between processes split among them."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree_memory(root: int) -> tuple[int, int, int]:
    """(RSS kB summed over root and all its descendants, their PSS summed, RSS of root alone), from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="utf-8") as fh:
                fields = dict(line.split(":", 1) for line in fh if ":" in line)
        except OSError:
            continue
        pid = int(entry)
        parents[pid] = int(fields["PPid"])
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sum(rss.get(p, 0) for p in tree), sum(_pss(p) for p in tree), rss.get(root, 0)


def timed(command: list[str]) -> tuple[float, float, float, float]:
    """(seconds, peak MB of the process tree as summed RSS and as summed PSS, peak RSS MB of the main process)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peak_rss = peak_pss = peak_main = 0
    while process.poll() is None:
        rss, pss, main = _tree_memory(process.pid)
        peak_rss, peak_pss, peak_main = max(peak_rss, rss), max(peak_pss, pss), max(peak_main, main)
        # Reading /proc costs CPU; sampled more often, it slowed the two-worker runs, which use both cores.
        time.sleep(0.5)
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{process.stderr.read()}")
    return seconds, peak_rss / 1024, peak_pss / 1024, peak_main / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="Logs to build [default: 20,000].")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-rules-only", action="store_true",
                        help="Time only the regex scan and the model (halves the time of a large N).")
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each command; the median counts.")
    args = parser.parse_args()

    cli = [sys.executable, "-c", "from classifier.cli import main; main()"]
    with tempfile.TemporaryDirectory(prefix="throughput-") as folder:
        folder = Path(folder)
        logs = folder / "logs.csv"
        words = build_logs(logs, args.n, args.seed)
        size = logs.stat().st_size / 1e6
        print(f"{args.n:,} logs, {words:,} words, {size:.1f} MB (entries sampled from the corpus, seed {args.seed})")
        runs = [("regex keyword scan", 1, [sys.executable, "-c", REGEX_SCAN, str(logs), str(folder / "hits.tsv")])]
        stages = [("classify --rules-only", ["--rules-only"])] if not args.skip_rules_only else []
        for name, extra in (*stages, ("classify (model)", [])):
            for workers in (1, 2):
                runs.append((name, workers, [*cli, "classify", str(logs), "-o", str(folder / "scores.jsonl"),
                                             "--workers", str(workers), "--quiet", *extra]))
        results = []
        print(f"{'':24} {'workers':>7} {'seconds':>9} {'words/s':>10} {'vs regex':>9} {'PSS MB':>7} "
              f"{'RSS MB':>7} {'main MB':>8}")
        for name, workers, command in runs:
            trials = sorted((timed(command) for _ in range(args.repeat)), key=lambda t: t[0])
            seconds = trials[len(trials) // 2][0]
            rss, pss, main_mb = (max(t[k] for t in trials) for k in (1, 2, 3))
            rate = words / seconds
            results.append((name, workers, rate, pss))
            print(f"{name:24} {workers:7d} {seconds:9.1f} {rate:10,.0f} {rate / results[0][2]:9.4f} "
                  f"{pss:7.0f} {rss:7.0f} {main_mb:8.0f}", flush=True)
        rates = {(name, workers): rate for name, workers, rate, _ in results}
        regex = rates[("regex keyword scan", 1)]
        model_one, model_two = rates[("classify (model)", 1)], rates[("classify (model)", 2)]
        per_worker = max(tree / workers for _, workers, _, tree in results[1:])
        print()
        print(f"model, 1 worker / regex scan: {model_one / regex:.4f} (target >= 0.3, goal 0.5): "
              f"{'met' if model_one / regex >= 0.3 else 'NOT met'}")
        print(f"model, 2 workers / 1 worker: {model_two / model_one:.2f} (target >= 1.8): "
              f"{'met' if model_two / model_one >= 1.8 else 'NOT met'}")
        print(f"peak memory per worker (PSS of the process tree / workers), any classify run: {per_worker:.0f} MB "
              f"(target <= 400 MB): {'met' if per_worker <= 400 else 'NOT met'}")


if __name__ == "__main__":
    main()
