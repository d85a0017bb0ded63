"""How the model holds up on writers (styles) it has not seen: leave-writers-out runs over the corpus.

    python benchmarks/style_shift.py                       # the default settings
    python benchmarks/style_shift.py --grid '[{"C": 1}, {"C": 16}, {"use_chars": true}]'

The corpus's train and dev splits are grouped by writer (the incident_id prefix: one writer, one force and one
style per batch) and cut into folds that leave whole writers out. For each fold a model is trained on the other
writers (calibrated, as `train` does, on folds that also leave writers out) and scores the held-out writers;
the rule floor is applied with the threshold and floor confidence that the training writers' out-of-fold
scores give, as `train` sets them from dev. Printed per setting, over the
held-out scores: average precision (threshold-free ranking), recall at precision 0.9, and expected calibration
error (ECE), pooled and for the worst held-out writer. The test split is never read.

Use it to choose settings (the grid) on the style a model has not seen, not on a pooled split.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sklearn.metrics import average_precision_score  # noqa: E402
from sklearn.model_selection import GroupKFold  # noqa: E402

from classifier.corpus import load_corpus, writer_of  # noqa: E402
from classifier.evaluate import label_columns  # noqa: E402
from classifier.evaluation import expected_calibration_error  # noqa: E402
from classifier.floor import apply_floor, floor_confidence  # noqa: E402
from classifier.labels import LABELS, NONE  # noqa: E402
from classifier.model import build_estimator  # noqa: E402
from classifier.ruleset import load_rules  # noqa: E402
from classifier.scoring import RuleScorer  # noqa: E402
from classifier.thresholds import pr_points, recall_at_precision  # noqa: E402
from classifier.training import TARGET_RECALL, analyse_texts, floor_threshold  # noqa: E402


def held_out_scores(records, labels, writers, settings, folds: int):
    """Each log's final confidence from a model that never saw its writer."""
    confidence = np.zeros(len(records))
    labels = np.asarray(labels)
    writers = np.asarray(writers)
    for train_idx, test_idx in GroupKFold(n_splits=folds).split(records, labels, writers):
        x_train = [records[i] for i in train_idx]
        estimator = build_estimator(settings).fit(x_train, labels[train_idx], classify__groups=writers[train_idx])
        x_test = [records[i] for i in test_idx]
        model = label_columns(estimator.classes_, estimator.predict_proba(x_test))
        rules = np.array([[r["rule_probabilities"][label] for label in LABELS] for r in x_test])
        # The threshold and the floor's confidence as `train` sets them, from the training writers alone (their
        # out-of-fold scores stand in for a dev split).
        oof = estimator.named_steps["classify"].oof_confidence_
        train_positive = labels[train_idx] != NONE
        threshold = floor_threshold(oof, [bool(r["floor"]) for r in x_train], train_positive, TARGET_RECALL)
        floor_conf = floor_confidence([r["floor"] for r in x_train], labels[train_idx], oof, threshold)
        final, _ = apply_floor(model, rules, [r["floor"] for r in x_test], threshold=threshold, confidence=floor_conf)
        confidence[test_idx] = 1.0 - final[:, LABELS.index(NONE)]
    return confidence


def figures(confidence, positive) -> dict:
    points = pr_points(confidence, positive)
    return {"ap": average_precision_score(positive, confidence) if positive.any() else float("nan"),
            "r@p0.9": recall_at_precision(points, 0.9),
            "ece": expected_calibration_error(confidence, positive)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grid", default="[{}]", help="JSON list of settings to compare (over the defaults)")
    parser.add_argument("--folds", type=int, default=5, help="folds, each leaving out whole writers")
    parser.add_argument("--corpus", default=str(ROOT / "corpora" / "incidents"))
    parser.add_argument("--rules", default=None, help="a rules folder [default: the shipped rules]")
    parser.add_argument("--per-writer", action="store_true", help="also print each held-out writer's figures")
    args = parser.parse_args()

    corpus = list(load_corpus(args.corpus, ("train", "dev")))
    labels = [r["label"] for r in corpus]
    writers = [writer_of(r["incident_id"]) for r in corpus]
    records = analyse_texts(RuleScorer(load_rules(args.rules)), (r["text"] for r in corpus))
    positive = np.asarray(labels) != NONE
    print(f"{len(corpus)} train+dev logs from {len(set(writers))} writers; {args.folds} folds leaving writers out")
    print(f"{'settings':48} {'AP':>6} {'R@P.9':>6} {'ECE':>6} | worst writer: {'AP':>6} {'R@P.9':>6} {'ECE':>6}")
    for settings in json.loads(args.grid):
        confidence = held_out_scores(records, labels, writers, settings, args.folds)
        pooled = figures(confidence, positive)
        per_writer = {w: figures(confidence[np.asarray(writers) == w], positive[np.asarray(writers) == w])
                      for w in sorted(set(writers))}
        worst = {key: (max if key == "ece" else min)(f[key] for f in per_writer.values()) for key in pooled}
        print(f"{json.dumps(settings):48} {pooled['ap']:6.3f} {pooled['r@p0.9']:6.3f} {pooled['ece']:6.3f} | "
              f"{'':14}{worst['ap']:6.3f} {worst['r@p0.9']:6.3f} {worst['ece']:6.3f}", flush=True)
        if args.per_writer:
            for writer, f in per_writer.items():
                n = sum(1 for w in writers if w == writer)
                print(f"    {writer:4} ({n:3} logs) {f['ap']:6.3f} {f['r@p0.9']:6.3f} {f['ece']:6.3f}", flush=True)


if __name__ == "__main__":
    main()
