"""Does retraining on a force's reviewed outcomes teach the model that force's own words?

    python benchmarks/learn_force_language.py [--logs corpora/force-language/nw-logs.jsonl]
    python benchmarks/learn_force_language.py --budget 100 [--orders value,teach]

Runs the review loop with the project's own commands, in a scratch folder, on logs written in the local
dialect of one fictional force (see corpora/force-language/PHRASINGS.md), none of whose offence words are in
the corpus or the rules:

1. `scan --db` the logs with the current model (no linked crimes);
2. `review sample` every incident the scan did not flag, as an inspector's audit would;
3. `review import` a decision for every flag and sampled incident: the log's label (`crime` + label, or
   `no_crime`), as a reviewer who knows the local words would decide;
4. `review export`, then `retrain --reviews`, which holds out 30% (`--holdout`) of the reviewed incidents
   (by a hash of the incident id) and promotes the candidate only if it passes the gate;
5. `classify` the held-out logs, which the candidate never trained on, with the old and the new model.

With `--budget N`, the team decides only the first N flags of the queue (`review queue --order ORDER
--limit N`), besides the whole audit sample, once per order of `--orders` (default value,teach: most
valuable first, or the flags the model is least sure of first). Steps 3 to 5 run for each order in its own
copy of the store and models home as the scan and sample left them, so the orders start alike, decide the
same audit sample, and differ only in which flags the budget reaches. The held-out logs are the same for
every order: retrain's holdout is a hash of the incident id.

With `--poison`, every decision is turned round (offences decided `no_crime`, innocent logs decided `crime`
with their phrasing group's label): a batch that contradicts what the logs say. If the gate refuses it
before training, it is run again with `--force` in the scratch folder, to show what the gate's figures say
of the candidate such a batch makes.

Prints the gate's decision (with `--budget`, retrain's report for each order and what its decisions were),
and recall and false flags on the held-out logs per phrasing, current model against candidate (promoted or
not), or against each order's candidate in one table. The package's own models folder is copied, never
changed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier.model_versions import read_manifest  # noqa: E402
from classifier.resources import shipped_models_dir  # noqa: E402
from classifier.review.store import ORDERS  # noqa: E402
from classifier.training.retrain import holdout  # noqa: E402


def run(*args, cwd: Path, stderr: bool = True) -> str:
    command = [sys.executable, "-c", "from classifier.cli import main; main()", *map(str, args)]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(map(str, args[:2]))} failed:\n{result.stderr}")
    return result.stdout + (result.stderr if stderr else "")


def write_logs(path: Path, records: list[dict]) -> None:
    """The logs as a force would export them: no label, phrasing or note."""
    keep = ("incident_id", "opened_at", "opening_code", "closing_code", "text")
    path.write_text("".join(json.dumps({k: r[k] for k in keep}) + "\n" for r in records), encoding="utf-8")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def orders(value: str) -> list[str]:
    chosen = list(dict.fromkeys(value.split(",")))
    if not set(chosen) <= set(ORDERS):
        raise argparse.ArgumentTypeError(f"orders are among {', '.join(ORDERS)}")
    return chosen


def review_and_retrain(work: Path, records: list[dict], group_label: dict[str, str], args) -> tuple[str, str, str]:
    """Import a decision for each of `records`, export and retrain in `work`: retrain's report, the
    candidate's version and the gate's decision."""
    models, db = work / "models", work / "flags.sqlite"
    reviews = work / "decisions.jsonl"
    with open(reviews, "w", encoding="utf-8") as fh:
        for r in records:
            decision = {"incident_id": r["incident_id"], "reviewer": "qa", "reviewed_at": "2026-11-20T09:00:00"}
            if (r["label"] == "none") != args.poison:
                decision["outcome"] = "no_crime"
            else:
                label = r["label"] if r["label"] != "none" else group_label[r["phrasing"]]
                decision.update(outcome="crime", label=label)
            fh.write(json.dumps(decision) + "\n")
    run("review", "import", reviews, "--db", db, cwd=work)
    run("review", "export", "-o", work / "reviews.jsonl", "--db", db, cwd=work)
    retrain = ["retrain", "--reviews", work / "reviews.jsonl", "--db", db, "--models", models,
               "--corpus", ROOT / "corpora" / "incidents", "--holdout", args.holdout, "--held-out", args.held_out]
    report = run(*retrain, cwd=work).strip()
    if args.poison and "no candidate trained" in report:
        report += ("\n\nagain with --force, to see the gate's figures for the candidate this batch makes:\n"
                   + run(*retrain, "--force", cwd=work).strip())
    found = re.findall(r"candidate (\S+) \(parent \S+\): (\w+)", report)
    if not found:
        sys.exit(f"{report}\nretrain trained no candidate")
    return report, *found[-1]


def budget_order(work: Path, order: str, args, gold: dict[str, dict], audit: list[str],
                 group_label: dict[str, str]) -> tuple[str, str, str]:
    """Decide the first `args.budget` flags of the queue in `order` and the audit sample, in a copy of the
    scratch folder's store and models: retrain's report and what was decided, the candidate and the gate's
    decision."""
    own = work / order
    own.mkdir()
    shutil.copytree(work / "models", own / "models")
    # The store is SQLite in WAL mode: its backup copies every committed write, whatever a file copy would miss.
    with closing(sqlite3.connect(work / "flags.sqlite")) as source, \
            closing(sqlite3.connect(own / "flags.sqlite")) as copy:
        source.backup(copy)
    queue = run("review", "queue", "--db", own / "flags.sqlite", "--order", order, "--limit", args.budget,
                "--json", cwd=own, stderr=False)
    chosen = [flag["incident_id"] for flag in json.loads(queue)]
    report, new, decision = review_and_retrain(own, [gold[i] for i in chosen + audit], group_label, args)
    offences = sum(gold[i]["label"] != "none" for i in chosen)
    trained = sum(not holdout(i, args.holdout) for i in chosen)
    summary = (f"{order}: decided the first {len(chosen)} flags of the queue ({offences} offences, "
               f"{len(chosen) - offences} not) and {len(audit)} audit incidents; {trained} of the {len(chosen)} "
               f"flag decisions train, {len(chosen) - trained} are held out")
    return f"== order {order}\n{report}\n{summary}", new, decision


def held_out_rows(work: Path, models: Path, version: str, held_file: Path, gold: dict[str, dict]) -> dict:
    """phrasing -> [offences, caught, hard negatives, false flags] of `version` on the held-out logs."""
    threshold = read_manifest(models / version)["thresholds"]["review"]
    out = work / f"scores-{version}.jsonl"
    run("classify", held_file, "-o", out, "--model", models / version, "--quiet", cwd=work)
    rows = defaultdict(lambda: [0, 0, 0, 0])
    for score in read_jsonl(out):
        truth = gold[score["incident_id"]]
        row = rows[truth["phrasing"]]
        flagged = score["confidence"] >= threshold
        if truth["label"] != "none":
            row[0] += 1
            row[1] += flagged
        else:
            row[2] += 1
            row[3] += flagged
    return rows


def print_table(current: tuple[str, dict], candidates: list[tuple[str, str, str, dict]], held: int,
                logs: int) -> None:
    """The current model beside each candidate (name, version, gate decision, rows), one column each."""
    old, before = current
    names = [name for name, *_ in candidates]
    widths = [max(8, len(name) + 1) for name in names]
    falses = "false flags " + " -> ".join(["current", *names])
    print(f"\nheld-out logs (never trained on): {held} of {logs}; current {old}, "
          + ", ".join(f"{name} {version} ({decision})" for name, version, decision, _ in candidates))
    print(f"{'phrasing':16} {'offences':>8} {'current':>8} "
          + "".join(f"{name:>{w}} " for name, w in zip(names, widths)) + f"{falses:>{len(falses) + 1}}")

    def line(phrasing: str, rows: list[list[int]]) -> None:
        print(f"{phrasing:16} {rows[0][0]:8d} {rows[0][1]:8d} "
              + "".join(f"{row[1]:{w}d} " for row, w in zip(rows[1:], widths))
              + f"{' -> '.join(f'{row[3]}/{row[2]}' for row in rows):>{len(falses) + 1}}")

    tables = [before] + [rows for *_, rows in candidates]
    totals = [[0, 0, 0, 0] for _ in tables]
    for phrasing in sorted(before):
        rows = [table[phrasing] for table in tables]
        line(phrasing, rows)
        totals = [[a + b for a, b in zip(total, row)] for total, row in zip(totals, rows)]
    line("all", totals)
    b = totals[0]
    for name, a in zip(names, totals[1:]):
        print(f"{f'{name}: ' if len(names) > 1 else ''}recall on held-out offences: {b[1] / b[0]:.3f} -> "
              f"{a[1] / a[0]:.3f}; false flags on held-out hard negatives: {b[3]} -> {a[3]} of {b[2]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", type=Path, default=ROOT / "corpora" / "force-language" / "nw-logs.jsonl")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch folder and print where it is.")
    parser.add_argument("--poison", action="store_true", help="Decide every log the wrong way round.")
    parser.add_argument("--holdout", type=float, default=0.3, help="Share of reviews retrain holds out (default 0.3).")
    parser.add_argument("--held-out", default="style", choices=["style", "writer", "none"],
                        help="retrain's leave-one-out report for the current model and the candidate (default style; "
                             "writer trains 22 models each)")
    parser.add_argument("--budget", type=int, default=None,
                        help="Decide only the first N flags of the queue (and the audit sample), once per order.")
    parser.add_argument("--orders", type=orders, default=None,
                        help=f"With --budget: the queue orders to compare (default {','.join(ORDERS)}).")
    args = parser.parse_args()
    if args.budget is not None and args.budget < 1:
        parser.error("--budget is at least 1")
    if args.orders and args.budget is None:
        parser.error("--orders goes with --budget")
    args.orders = args.orders or list(ORDERS)
    logs = read_jsonl(args.logs)
    gold = {r["incident_id"]: r for r in logs}
    group_label = {r["phrasing"]: r["label"] for r in logs if r["label"] != "none"}

    work = Path(tempfile.mkdtemp(prefix="learn-force-language-"))
    models = work / "models"
    shutil.copytree(shipped_models_dir(), models)
    old = json.loads((models / "current.json").read_text())["version"]
    db = work / "flags.sqlite"
    incidents = work / "incidents.jsonl"
    write_logs(incidents, logs)
    crimes = work / "crimes.jsonl"
    crimes.write_text(json.dumps({"crime_id": "none", "incident_id": "none"}) + "\n")

    print(run("scan", incidents, "--crimes", crimes, "-o", work / "flags.jsonl", "--db", db,
              "--model", models / old, "--quiet", cwd=work).strip().splitlines()[-1])
    flagged = {f["incident_id"] for f in read_jsonl(work / "flags.jsonl")}
    unflagged = len(logs) - len(flagged)
    audit = run("review", "sample", incidents, "--n", unflagged, "--seed", 1, "--db", db, "--model", models / old,
                cwd=work, stderr=False).split()

    held = [r for r in logs if holdout(r["incident_id"], args.holdout)]
    held_file = work / "held-out.jsonl"
    write_logs(held_file, held)
    if args.budget is None:
        report, new, decision = review_and_retrain(work, logs, group_label, args)
        print(report)
        candidates = [("candidate", new, decision, held_out_rows(work, models, new, held_file, gold))]
    else:
        print(f"{len(flagged)} flags, {len(audit)} incidents in the audit sample; budget {args.budget} flags")
        # The orders share nothing but the starting copy, so they run side by side: a retrain takes minutes.
        with ThreadPoolExecutor(max_workers=len(args.orders)) as pool:
            results = list(pool.map(lambda order: budget_order(work, order, args, gold, audit, group_label),
                                    args.orders))
        candidates = []
        for order, (report, new, decision) in zip(args.orders, results):
            print(f"\n{report}")
            candidates.append((order, new, decision,
                               held_out_rows(work / order, work / order / "models", new, held_file, gold)))
    print_table((old, held_out_rows(work, models, old, held_file, gold)), candidates, len(held), len(logs))
    if args.keep:
        print(f"scratch folder: {work}")
    else:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
