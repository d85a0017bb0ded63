"""Train a model version on the corpus train split, choose its thresholds and record its dev metrics."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np

from classifier.scoring.analysis import analyse
from classifier.model_versions import ModelVersion, save_model
from classifier.training.augment import variants
from classifier.corpus import RULE_BLIND, load_corpus, load_rule_blind, style_of, writer_of
from classifier.evaluation.labelled import label_columns
from classifier.evaluation.metrics import binary_report, expected_calibration_error, offence_decisions
from classifier.scoring.floor import apply_floor, flag_recall, floor_confidence, held_by_rules, rule_proba
from classifier.labels import LABELS, NONE, offence_confidence
from classifier.model import DEFAULT_SETTINGS, build_estimator, calibration_groups
from classifier.pipeline.ruleset import RuleSet
from classifier.scoring.scorers import RuleScorer
from classifier.training.thresholds import (lowest_threshold_above, pr_points, precision_at_recall, recall_at_precision,
                                           round_down, thin_curve, threshold_above)

# The default threshold is the confidence that reaches recall 0.98, counting what the rules hold (decision 0008),
# over the train split's out-of-fold scores (from folds that leave whole writers out) and the dev split together: the
# aim is 0.97 on unseen logs. Dev alone is a few hundred logs (at 0.97 and about 240 offences, one standard error
# of recall is about 0.011) and the threshold it gave moved with a handful of them; out-of-fold scores come from
# models that never saw the writer, as a force's logs will be. `scan --target-recall` picks any other point of
# the same curve. The `likely` band starts above it, where precision stays at 0.95 or more: on the corpus's
# rule-blind logs when it has them (classifier.corpus.RULE_BLIND), else on the same scores.
TARGET_RECALL = 0.98
LIKELY_PRECISION = 0.95
CURVE_SOURCE = "train split out of fold (writers held out) and dev split"
LIKELY_SOURCE_BLIND = "rule-blind logs (the corpus's rule-blind folder)"
# A rewrite (classifier.training.augment) counts for half a log: it tells the same event again.
AUGMENT_WEIGHT = 0.5


def floor_threshold(model_any, has_floor, positive, target: float) -> float:
    """The highest model confidence at which the model's flags and the floor's together reach `target` recall."""
    model_any = np.asarray(model_any, dtype=float)
    for threshold in sorted(set(model_any.tolist()), reverse=True):
        if flag_recall(model_any, has_floor, positive, threshold) >= target:
            return threshold
    return float(model_any.min()) if len(model_any) else 0.0


def choose_thresholds(model_any, held, gold, *, target_recall: float = TARGET_RECALL,
                      likely_precision: float = LIKELY_PRECISION) -> dict:
    """The flag threshold, the floor's confidence and the `likely` threshold, from scores of logs the model
    did not fit (out-of-fold, or a dev split): `model_any` is each log's model confidence before the floor,
    `held` whether the rules hold it (classifier.scoring.floor.rules_hold), `gold` its label. Also the
    precision-recall curve of the final confidence.
    """
    model_any = np.asarray(model_any, dtype=float)
    held = np.asarray(held, dtype=bool)
    positive = np.asarray(gold) != NONE
    review = round_down(floor_threshold(model_any, held, positive, target_recall))
    floor_conf = round_down(floor_confidence(held, gold, model_any, review))
    # The final confidence as apply_floor gives it: a held log is raised to the threshold and the floor's own.
    final = np.where(held, np.maximum(model_any, max(review, floor_conf)), model_any)
    points = pr_points(final, positive)
    likely = max(round_down(threshold_above(points, review, likely_precision)), round(review + 10**-6, 6))
    return {"review": review, "likely": likely, "floor_confidence": floor_conf, "points": points}


def likely_on_rule_blind(model_proba, rule_proba, floors, gold, *, review: float, floor_conf: float,
                         likely_precision: float = LIKELY_PRECISION) -> tuple[float, dict]:
    """The `likely` threshold placed on logs no rule was written from, and what it gives there.

    The rule floor's precision on the train and dev logs is flattered: each of their false floors that could be
    fixed was fixed by reading them. On logs the rules have not seen, more keyword-bearing `none` logs keep a
    floor, and the model, which learnt how far to trust a floor on the flattered logs, scores them high; a band
    placed on the flattered scores then holds fewer offences than it promises. Placed on rule-blind logs, with
    the floor applied as `classify` applies it.
    """
    final, _ = apply_floor(model_proba, rule_proba, floors, threshold=review, confidence=floor_conf)
    confidence = offence_confidence(final)
    positive = np.asarray(gold) != NONE
    likely = max(round_down(lowest_threshold_above(pr_points(confidence, positive), review, likely_precision)),
                 round(review + 10**-6, 6))
    in_band = confidence >= likely
    # As classify labels: a floor log raised to the threshold can read a hair under it (1 - (1 - t)).
    flagged = np.asarray(offence_decisions(final, LABELS, review)) != NONE
    return likely, {
        "n": len(positive),
        "offences": int(positive.sum()),
        "flag_recall": round(float((flagged & positive).sum() / max(positive.sum(), 1)), 4),
        "flag_precision": round(float(positive[flagged].mean()), 4) if flagged.any() else None,
        "likely_flags": int(in_band.sum()),
        "likely_precision": round(float(positive[in_band].mean()), 4) if in_band.any() else None,
        "false_floor_share": round(float(np.mean([bool(f) for f, p in zip(floors, positive) if not p])), 4)
        if (~positive).any() else None,
    }


def corpus_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted([*Path(folder).glob("*.jsonl"), *(Path(folder) / RULE_BLIND).glob("*.jsonl")]):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return "sha256:" + digest.hexdigest()


def analyse_texts(scorer: RuleScorer, texts) -> list[dict]:
    return [analyse(doc) for doc in scorer.docs(texts)]


def analyse_variants(scorer: RuleScorer, texts, kinds) -> list[list[dict]]:
    """For each text, the analysis records of its label-preserving rewrites (classifier.training.augment) by `kinds`."""
    per_text = [variants(text, kinds) if kinds else [] for text in texts]
    flat = analyse_texts(scorer, (v for vs in per_text for v in vs))
    out, start = [], 0
    for vs in per_text:
        out.append(flat[start:start + len(vs)])
        start += len(vs)
    return out


def style_weights(styles, mode: str | None) -> list[float]:
    """Each training log's weight by its style: `balanced` gives every style the same total weight (mean 1).

    The corpus's first thirteen batches (one style, written to be hard) outnumber each later style ten to one;
    balanced, a style of plain records counts as much as they do.
    """
    styles = list(styles)
    if not mode or mode == "none":
        return [1.0] * len(styles)
    if mode != "balanced":
        raise ValueError(f"style_weighting {mode!r} is not one of: none, balanced")
    counts = Counter(styles)
    return [len(styles) / (len(counts) * counts[s]) for s in styles]


def with_variants(x, y, groups, weights, variants_of):
    """Training rows plus each row's rewrites (same label and group, at AUGMENT_WEIGHT of the row's weight).

    The rewrites are appended after the rows, so the first len(x) out-of-fold scores are the rows' own.
    """
    x, y, groups, weights = list(x), list(y), list(groups), list(weights)
    for i, rewrites in enumerate(variants_of):
        x += rewrites
        y += [y[i]] * len(rewrites)
        groups += [groups[i]] * len(rewrites)
        weights += [weights[i] * AUGMENT_WEIGHT] * len(rewrites)
    return x, y, groups, weights


def train_model(corpus: Path, rules: RuleSet, *, settings: dict | None = None, root: Path | None = None,
                progress=None, extra_train: list[tuple[str, str]] | None = None,
                lineage: dict | None = None, extra_weight: float = 1.0) -> ModelVersion:
    """Train on the corpus train split (plus `extra_train` (text, label) pairs, e.g. reviewed outcomes)."""
    settings = {**DEFAULT_SETTINGS, **(settings or {})}
    say = progress or (lambda message: None)
    scorer = RuleScorer(rules)
    train = list(load_corpus(corpus, ("train",)))
    dev = list(load_corpus(corpus, ("dev",)))
    say(f"analysing {len(train)} train and {len(dev)} dev logs with the rule pipeline")
    extra_train = extra_train or []
    x_train = analyse_texts(scorer, [r["text"] for r in train] + [t for t, _ in extra_train])
    x_dev = analyse_texts(scorer, (r["text"] for r in dev))
    y_train = [r["label"] for r in train] + [label for _, label in extra_train]
    y_dev = [r["label"] for r in dev]
    say(f"fitting the model (calibrated on folds that leave whole {settings['calibration_folds']}s out)")
    # Reviewed outcomes carry the force's own language: `extra_weight` lets a few of them count.
    weights = style_weights([style_of(r) for r in train], settings.get("style_weighting")) + \
        [extra_weight] * len(extra_train)
    # Calibration folds leave corpus writers (or styles) out. Reviewed incidents are a force's many writers, and the
    # model that scores that force will have learnt from their like: each is its own group, spread over the folds.
    # As one group, a fold held all of them out and the calibration learnt that unseen slang is an offence.
    groups = calibration_groups([writer_of(r["incident_id"]) for r in train], [style_of(r) for r in train], settings) \
        + [f"review-{i}" for i in range(len(extra_train))]
    kinds = settings.get("augment") or []
    if kinds:
        say(f"rewriting the train logs ({', '.join(kinds)}) and analysing the rewrites")
    rewrites = analyse_variants(scorer, [r["text"] for r in train], kinds) + [[] for _ in extra_train]
    x_fit, y_fit, groups, weights = with_variants(x_train, y_train, groups, weights, rewrites)
    fit_params = {"classify__groups": groups}
    if len(set(weights)) > 1:
        fit_params["classify__sample_weight"] = weights
    estimator = build_estimator(settings, offence_words=rules.offence_lemmas, cue_kinds=rules.cue_kinds)
    estimator.fit(x_fit, y_fit, **fit_params)
    model_dev = label_columns(estimator.classes_, estimator.predict_proba(x_dev))
    positive = np.asarray(y_dev) != NONE
    # Thresholds from the corpus's own logs: reviewed incidents are mostly ones an earlier model flagged.
    oof = estimator.named_steps["classify"].oof_confidence_[:len(train)]
    model_dev_any = offence_confidence(model_dev)
    chosen = choose_thresholds(np.concatenate([oof, model_dev_any]), held_by_rules(x_train[:len(train)] + x_dev),
                               list(y_train[:len(train)]) + list(y_dev))
    review, likely, floor_conf = chosen["review"], chosen["likely"], chosen["floor_confidence"]
    blind = list(load_rule_blind(corpus))
    likely_source, blind_metrics = CURVE_SOURCE, None
    if blind:
        say(f"placing the likely band on {len(blind)} rule-blind logs")
        x_blind = analyse_texts(scorer, (r["text"] for r in blind))
        likely, blind_metrics = likely_on_rule_blind(
            label_columns(estimator.classes_, estimator.predict_proba(x_blind)),
            rule_proba(x_blind),
            [x["floor"] for x in x_blind], [r["label"] for r in blind], review=review, floor_conf=floor_conf)
        likely_source = LIKELY_SOURCE_BLIND
    rule_dev = rule_proba(x_dev)
    final_dev, decided = apply_floor(model_dev, rule_dev, [x["floor"] for x in x_dev], threshold=review,
                                     confidence=floor_conf)
    confidence = offence_confidence(final_dev)
    points = pr_points(confidence, positive)
    report = binary_report(y_dev, offence_decisions(final_dev, LABELS, review))
    dev_metrics = {
        "n": len(dev),
        "threshold": review,
        "precision": round(report.precision, 4),
        "recall": round(report.recall, 4),
        "f1": round(report.f1, 4),
        "label_accuracy": round(report.label_accuracy, 4),
        "recall_at_precision_0.9": round(recall_at_precision(points, 0.9), 4),
        "precision_at_recall_0.95": round(precision_at_recall(points, 0.95), 4),
        "expected_calibration_error": round(expected_calibration_error(confidence, positive), 4),
        "decided_by": dict(Counter(decided)),
    }
    manifest = {
        "corpus": {"folder": Path(corpus).name, "hash": corpus_hash(corpus),
                   "train": dict(Counter(y_train)), "dev": dict(Counter(y_dev)), "extra_train": len(extra_train),
                   "extra_weight": extra_weight, "rule_blind": dict(Counter(r["label"] for r in blind))},
        "rules": {"version": rules.version},
        "settings": settings,
        "dev_metrics": dev_metrics,
        "thresholds": {
            "review": review,
            "likely": likely,
            "floor_confidence": floor_conf,
            "target_recall": TARGET_RECALL,
            "likely_precision": LIKELY_PRECISION,
            "curve": thin_curve(chosen["points"]),
            "curve_source": CURVE_SOURCE,
            "likely_source": likely_source,
        },
    }
    if blind_metrics:
        # Figures on the logs the band was placed on: in-sample for `likely`, out of sample for the rest.
        manifest["rule_blind_metrics"] = blind_metrics
    if lineage:
        manifest["lineage"] = lineage
    return save_model(estimator, manifest, root=root)
