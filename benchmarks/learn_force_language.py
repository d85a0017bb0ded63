"""Does retraining on a force's reviewed outcomes teach the model that force's own words?

    python benchmarks/learn_force_language.py [--logs corpora/force-language/nw-logs.jsonl]

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

With `--poison`, every decision is turned round (offences decided `no_crime`, innocent logs decided `crime`
with their phrasing group's label): a batch that contradicts what the logs say. If the gate refuses it
before training, it is run again with `--force` in the scratch folder, to show what the gate's figures say
of the candidate such a batch makes.

Prints the gate's decision, and recall and false flags on the held-out logs per phrasing, current model
against candidate (promoted or not). The package's own
models folder is copied, never changed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier.model_versions import read_manifest  # noqa: E402
from classifier.resources import shipped_models_dir  # noqa: E402
from classifier.training.retrain import holdout  # noqa: E402


def run(*args, cwd: Path) -> str:
    command = [sys.executable, "-c", "from classifier.cli import main; main()", *map(str, args)]
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"{' '.join(map(str, args[:2]))} failed:\n{result.stderr}")
    return result.stdout + result.stderr


def write_logs(path: Path, records: list[dict]) -> None:
    """The logs as a force would export them: no label, phrasing or note."""
    keep = ("incident_id", "opened_at", "opening_code", "closing_code", "text")
    path.write_text("".join(json.dumps({k: r[k] for k in keep}) + "\n" for r in records), encoding="utf-8")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logs", type=Path, default=ROOT / "corpora" / "force-language" / "nw-logs.jsonl")
    parser.add_argument("--keep", action="store_true", help="Keep the scratch folder and print where it is.")
    parser.add_argument("--poison", action="store_true", help="Decide every log the wrong way round.")
    parser.add_argument("--holdout", type=float, default=0.3, help="Share of reviews retrain holds out (default 0.3).")
    parser.add_argument("--held-out", default="style", choices=["style", "writer", "none"],
                        help="retrain's leave-one-out report for the current model and the candidate (default style; "
                             "writer trains 22 models each)")
    args = parser.parse_args()
    logs = read_jsonl(args.logs)
    gold = {r["incident_id"]: r for r in logs}

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
    run("review", "sample", incidents, "--n", unflagged, "--seed", 1, "--db", db, "--model", models / old, cwd=work)

    group_label = {r["phrasing"]: r["label"] for r in logs if r["label"] != "none"}
    reviews = work / "decisions.jsonl"
    with open(reviews, "w", encoding="utf-8") as fh:
        for r in logs:
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
    print(report)
    if args.poison and "no candidate trained" in report:
        print("\nagain with --force, to see the gate's figures for the candidate this batch makes:")
        report = run(*retrain, "--force", cwd=work).strip()
        print(report)
    found = re.search(r"candidate (\S+) \(parent \S+\): (\w+)", report)
    if found is None:
        sys.exit("retrain trained no candidate")
    new, decision = found.groups()

    held = [r for r in logs if holdout(r["incident_id"], args.holdout)]
    held_file = work / "held-out.jsonl"
    write_logs(held_file, held)
    table = defaultdict(lambda: defaultdict(lambda: [0, 0, 0, 0]))  # model -> phrasing -> [pos, caught, neg, false]
    for version in dict.fromkeys([old, new]):
        threshold = read_manifest(models / version)["thresholds"]["review"]
        out = work / f"scores-{version}.jsonl"
        run("classify", held_file, "-o", out, "--model", models / version, "--quiet", cwd=work)
        for score in read_jsonl(out):
            truth = gold[score["incident_id"]]
            row = table[version][truth["phrasing"]]
            flagged = score["confidence"] >= threshold
            if truth["label"] != "none":
                row[0] += 1
                row[1] += flagged
            else:
                row[2] += 1
                row[3] += flagged

    print(f"\nheld-out logs (never trained on): {len(held)} of {len(logs)}; current {old}, candidate {new} "
          f"({decision})")
    print(f"{'phrasing':16} {'offences':>8} {'current':>8} {'candidate':>10} {'false flags current -> candidate':>33}")
    totals = defaultdict(lambda: [0, 0, 0, 0])
    for phrasing in sorted(table[old]):
        before, after = table[old][phrasing], table[new][phrasing]
        print(f"{phrasing:16} {before[0]:8d} {before[1]:8d} {after[1]:10d} "
              f"{f'{before[3]}/{before[2]} -> {after[3]}/{after[2]}':>33}")
        for version, row in ((old, before), ("new", after)):
            totals[version] = [a + b for a, b in zip(totals[version], row)]
    b, a = totals[old], totals["new"]
    print(f"{'all':16} {b[0]:8d} {b[1]:8d} {a[1]:10d} {f'{b[3]}/{b[2]} -> {a[3]}/{a[2]}':>33}")
    print(f"recall on held-out offences: {b[1] / b[0]:.3f} -> {a[1] / a[0]:.3f}; "
          f"false flags on held-out hard negatives: {b[3]} -> {a[3]} of {b[2]}")
    if args.keep:
        print(f"scratch folder: {work}")
    else:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
