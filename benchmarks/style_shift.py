"""How the model holds up on styles (or writers) it has not seen: leave-one-style-out runs over the corpus.

    python benchmarks/style_shift.py                         # the default settings, one style held out at a time
    python benchmarks/style_shift.py --by writer             # one writer (batch) held out at a time
    python benchmarks/style_shift.py --grid '[{"C": 4}, {"C": 16}, {"augment": ["person"]}]'

The corpus's train and dev splits are grouped by `style` (or by writer: the incident_id prefix). For each group
a model is trained on the others (calibrated, as `train` does, on folds that leave writers out; thresholds
from its own out-of-fold scores) and scores the held-out group with the rule floor. For each setting it prints
the pooled and the worst held-out group's figures; for the first setting (or every one, with --per-group) the
table of every group for the full model, the rules alone and the keyword search, with ECE per group.
The test split is never read.

Use it to choose settings (the grid) on the style a model has not seen, not on a pooled split: the default
settings in `classifier/model.py` are the best row by the worst held-out style's F1.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from classifier.corpus import load_corpus  # noqa: E402
from classifier.evaluation.held_out import GROUPINGS, format_held_out, held_out_report  # noqa: E402
from classifier.pipeline.ruleset import load_rules  # noqa: E402
from classifier.scoring.scorers import RuleScorer  # noqa: E402
from classifier.training.train import analyse_texts  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", default="[{}]", help="JSON list of settings to compare (over the defaults)")
    parser.add_argument("--by", choices=GROUPINGS, default="style", help="what to hold out")
    parser.add_argument("--folds", type=int, default=None,
                        help="folds that each leave whole groups out [default: one model per group]")
    parser.add_argument("--corpus", default=str(ROOT / "corpora" / "incidents"))
    parser.add_argument("--rules", default=None, help="a rules folder [default: the shipped rules]")
    parser.add_argument("--per-group", action="store_true", help="print every setting's per-group table")
    args = parser.parse_args()

    corpus = list(load_corpus(args.corpus, ("train", "dev")))
    scorer = RuleScorer(load_rules(args.rules))
    analysed = analyse_texts(scorer, (r["text"] for r in corpus))
    print(f"{len(corpus)} train+dev logs; held out by {args.by}")
    header = (f"{'settings':44} | pooled {'AP':>5} {'P':>5} {'R':>5} {'F1':>5} {'ECE':>5} | worst {args.by}: "
              f"{'F1':>5} {'R':>5} {'ECE':>5}")
    rows = []
    for number, settings in enumerate(json.loads(args.grid)):
        report = held_out_report(corpus, analysed, by=args.by, settings=settings, folds=args.folds,
                                 rule_scorer=scorer)
        if number == 0 or args.per_group:
            print(format_held_out(report), flush=True)
        pooled = report["pooled"]["methods"]["model"]
        groups = {g["group"]: g["methods"]["model"] for g in report["groups"]}
        worst = report["worst"]
        rows.append(f"{json.dumps(settings):44} | {'':6} {pooled['ap']:5.3f} {pooled['precision']:5.3f} "
                    f"{pooled['recall']:5.3f} {pooled['f1']:5.3f} {pooled['ece']:5.3f} | {'':6}{' ' * len(args.by)} "
                    f"{groups[worst['f1']]['f1']:5.3f} {groups[worst['recall']]['recall']:5.3f} "
                    f"{groups[worst['ece']]['ece']:5.3f}")
        print("\n" + header + "\n" + "\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
