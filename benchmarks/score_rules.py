"""Score the rules and a plain keyword search side by side on the held-aside part of the corpus.

    python benchmarks/score_rules.py            # the test split: no rule was written against it
    python benchmarks/score_rules.py --split dev

Prints binary precision, recall and F1 (any offence vs none) and label accuracy on the positives.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier.corpus import load_corpus  # noqa: E402
from classifier.evaluation.metrics import KeywordSearch, binary_report, offence_decisions  # noqa: E402
from classifier.labels import LABELS  # noqa: E402
from classifier.pipeline.ruleset import load_rules  # noqa: E402
from classifier.scoring.scorers import RuleScorer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", choices=["train", "dev", "test"])
    parser.add_argument("--corpus", default=str(ROOT / "corpora" / "incidents"))
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--errors", action="store_true", help="List the incident ids the rules get wrong (not on test).")
    args = parser.parse_args()

    records = list(load_corpus(args.corpus, (args.split,)))
    gold = [r["label"] for r in records]
    scorer = RuleScorer(load_rules())
    proba = np.array([[doc._.probabilities[label] for label in LABELS] for doc in scorer.docs(r["text"] for r in records)])
    rules_pred = offence_decisions(proba, LABELS, args.threshold)
    keyword = KeywordSearch()
    keyword_pred = [keyword.predict(r["text"]) for r in records]

    counts = Counter(gold)
    print(f"split {args.split}: {len(records)} logs; " + ", ".join(f"{label} {counts[label]}" for label in LABELS))
    print(f"{'method':16} {'precision':>9} {'recall':>7} {'F1':>6} {'label acc':>9}   tp   fp   fn")
    for name, predicted in (("rules", rules_pred), ("keyword search", keyword_pred)):
        rep = binary_report(gold, predicted)
        print(f"{name:16} {rep.precision:9.3f} {rep.recall:7.3f} {rep.f1:6.3f} {rep.label_accuracy:9.3f} "
              f"{rep.tp:4} {rep.fp:4} {rep.fn:4}")
    if args.errors:
        if args.split == "test":
            parser.error("--errors is for train and dev: the test split is not read for rule writing")
        for r, p in zip(records, rules_pred):
            if p != r["label"]:
                print(f"  {r['incident_id']}: gold {r['label']}, rules {p}")


if __name__ == "__main__":
    main()
