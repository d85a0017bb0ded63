"""Offence-vs-none figures on real incident records: the full model, the rules alone and a keyword search.

    python benchmarks/real_records.py ../shared/real-dev/
    python benchmarks/real_records.py DIR [DIR ...] [--model VERSION|FOLDER] [--misses FILE]

Each DIR holds JSON Lines files (`*.jsonl`), one record a line with `text` and `family` (`none`, or an
offence family such as `violence`, `sexual`, `stalking_harassment`); any other fields are ignored. For
each file it prints precision, recall, F1 and expected calibration error (ECE) of "any offence" for:

- model: what `classify` writes with the current (or `--model`) model: its label, which the rule floor
  and the model's own threshold decide, and its confidence;
- model_alone: the trained model's own confidence at its threshold, before the rule floor (what the corpus
  taught it; not what the tool outputs);
- rules: the rule pipeline alone at 0.5, as `classify --rules-only`;
- keyword: the plain keyword search of `evaluate`.

It also prints, for the model, how many offences each of the rule floor and the model decided, the share
of flags per band and how many flags read a saturated confidence (>= 0.999).

The records this is run on are someone else's: the misses (the model's false negatives and false
positives, with the text, for reading) go to `--misses` (default: `real-records-misses.jsonl` in the
current folder), never into the repository. Nothing is trained and no threshold is chosen here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier.evaluation.metrics import KeywordSearch, binary_report, expected_calibration_error  # noqa: E402
from classifier.labels import NONE  # noqa: E402

SATURATED = 0.999


def read_records(path: Path) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SystemExit(f"{path}, line {line_no}: not a JSON object ({exc.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not isinstance(row.get("family"), str):
                raise SystemExit(f"{path}, line {line_no}: needs a string `text` and a string `family`")
            records.append({"id": str(row.get("incident_id", f"line-{line_no}")), "text": row["text"],
                            "family": row["family"]})
    return records


def files_of(folders: list[str]) -> list[Path]:
    files: list[Path] = []
    for folder in folders:
        path = Path(folder)
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(sorted(path.glob("*.jsonl")))
        else:
            raise SystemExit(f"{folder}: no such file or folder")
    if not files:
        raise SystemExit("no .jsonl files found in " + ", ".join(folders))
    return files


def row(name: str, gold: list[bool], flagged: list[bool], confidence) -> str:
    rep = binary_report([("x" if g else NONE) for g in gold], [("x" if f else NONE) for f in flagged])
    ece = expected_calibration_error(confidence, gold)
    return (f"  {name:11} {rep.precision:9.3f} {rep.recall:7.3f} {rep.f1:6.3f} {ece:6.3f} "
            f"{rep.tp:5} {rep.fp:5} {rep.fn:5}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", metavar="DIR", help="folders (or files) of JSONL records")
    parser.add_argument("--model", default=None, help="a model version or folder [default: the current model]")
    parser.add_argument("--rules", default=None, help="a rules folder [default: the shipped rules]")
    parser.add_argument("--misses", default="real-records-misses.jsonl",
                        help="where to write the model's misses and false flags, with their text, for reading")
    args = parser.parse_args()

    from classifier.api import band, load_scorer
    from classifier.scoring.scorers import RULES_ONLY_THRESHOLD

    keyword = KeywordSearch()
    scorer = load_scorer(model=args.model, rules=args.rules)
    rule_scorer = scorer.rule_scorer
    misses = []
    for path in files_of(args.folders):
        records = read_records(path)
        texts = [r["text"] for r in records]
        gold = [r["family"] != NONE for r in records]
        # The pipeline reads each record once; the model, the model alone and the rules score the same docs.
        docs = list(rule_scorer.docs(texts))
        scores = scorer.score_docs(docs)
        model_conf = np.array([s["confidence"] for s in scores])
        model_flag = [s["label"] != NONE for s in scores]
        rule_conf = np.array([1.0 - doc._.probabilities[NONE] for doc in docs])
        alone = None
        if hasattr(scorer, "model_proba"):
            from classifier.scoring.analysis import analyse
            from classifier.labels import LABELS

            alone = 1.0 - scorer.model_proba([analyse(doc) for doc in docs])[:, LABELS.index(NONE)]
        rule_flag = list(rule_conf >= RULES_ONLY_THRESHOLD)
        keyword_flag = [keyword.predict(t) != NONE for t in texts]
        print(f"{path.name}: {len(records)} records, {sum(gold)} offences ({scores[0]['model'] if scores else '-'})")
        print(f"  {'method':11} {'precision':>9} {'recall':>7} {'F1':>6} {'ECE':>6} {'tp':>5} {'fp':>5} {'fn':>5}")
        print(row("model", gold, model_flag, model_conf))
        if alone is not None:
            print(row("model_alone", gold, list(alone >= scorer.threshold), alone))
        print(row("rules", gold, rule_flag, rule_conf))
        print(row("keyword", gold, keyword_flag, np.asarray(keyword_flag, dtype=float)))
        decided = {}
        for s, g in zip(scores, gold):
            if s["label"] != NONE:
                decided[s.get("decided_by", "?")] = decided.get(s.get("decided_by", "?"), 0) + 1
        flags = [s for s in scores if s["label"] != NONE]
        bands = {}
        for s in flags:
            bands[band(s, scorer)] = bands.get(band(s, scorer), 0) + 1
        saturated = sum(s["confidence"] >= SATURATED for s in flags)
        print(f"  model flags {len(flags)}: decided by " + ", ".join(f"{k} {v}" for k, v in sorted(decided.items()))
              + "; bands " + ", ".join(f"{k} {v}" for k, v in sorted(bands.items()))
              + f"; confidence >= {SATURATED}: {saturated}")
        for r, s, g in zip(records, scores, gold):
            if g != (s["label"] != NONE):
                misses.append({"file": path.name, "id": r["id"], "family": r["family"],
                               "kind": "missed" if g else "false flag", "confidence": s["confidence"],
                               "label": s["label"], "decided_by": s.get("decided_by"),
                               "evidence": [(e["rule"], e["text"], e["context"]) for e in s["evidence"]],
                               "text": r["text"]})
    with open(args.misses, "w", encoding="utf-8") as fh:
        for m in misses:
            fh.write(json.dumps(m, ensure_ascii=False) + "\n")
    print(f"{len(misses)} misses and false flags written to {args.misses} (they hold record text: keep it out of "
          f"the repository)")


if __name__ == "__main__":
    main()
