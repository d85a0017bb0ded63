"""Figures on styles and writers a model has not seen: leave-one-style-out and leave-one-writer-out.

A pooled test split shares its styles and writers with the training split, so it flatters a model that learnt
how its corpus is written. Here each group (a `style`, or a writer: the batch named by the incident_id's
prefix) is held out in turn: a model with the given settings is trained on the other groups' trainable logs
(calibrated on folds that leave writers, or with the setting `calibration_folds`, styles out, as `train`
does), chooses its thresholds from its own out-of-fold scores (`classifier.training.train.choose_thresholds`) and scores every log of the held-out group with the rule floor.
Each group is reported for that model, the rules alone and the keyword search (precision, recall, F1 and
expected calibration error), with the pooled figures and the worst group.

A held-out group's train and dev logs may have been read to write the rules (a held-out model's errors there
are what a rule writer reads), which flatters the group's figures. Given `unread` (the logs nobody read: the
corpus's test split), each group is reported on those alone too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score
from sklearn.model_selection import GroupKFold

from classifier.corpus import style_of, writer_of
from classifier.evaluation.labelled import label_columns
from classifier.evaluation.metrics import KeywordSearch, binary_report, expected_calibration_error, offence_decisions
from classifier.scoring.floor import apply_floor, held_by_rules, rule_proba
from classifier.labels import LABELS, NONE, offence_confidence
from classifier.model import DEFAULT_SETTINGS, build_estimator, calibration_groups
from classifier.scoring.scorers import RULES_ONLY_THRESHOLD
from classifier.training.train import analyse_variants, choose_thresholds, style_weights, with_variants

GROUPINGS = ("style", "writer")
METHODS = ("model", "rules", "keyword")
# A group with fewer offences than this is reported but not named the worst: its F1 is mostly noise.
MIN_OFFENCES_FOR_WORST = 10


def group_of(record: dict, by: str) -> str:
    if by == "style":
        return style_of(record)
    if by == "writer":
        return writer_of(record["incident_id"])
    raise ValueError(f"group by {by!r}: not one of {', '.join(GROUPINGS)}")


@dataclass
class HeldOutScores:
    """Each log's final confidence and flag from a model that never saw its group."""

    confidence: np.ndarray
    flagged: np.ndarray
    models: int


def _splits(groups: np.ndarray, folds: int | None):
    unique = sorted(set(groups.tolist()))
    if folds is None or folds >= len(unique):
        return [(groups != g, groups == g) for g in unique]
    out = []
    for _, test_idx in GroupKFold(n_splits=folds).split(groups, groups, groups):
        test = np.zeros(len(groups), dtype=bool)
        test[test_idx] = True
        out.append((~test, test))
    return out


def held_out_scores(analysed: list[dict], labels, groups, writers, *, settings: dict | None = None,
                    trainable=None, folds: int | None = None, extra: tuple[list[dict], list[str]] | None = None,
                    extra_weight: float = 1.0, variants_of: list[list[dict]] | None = None,
                    styles=None, offence_words=None, cue_kinds=None, progress=None) -> HeldOutScores:
    """Score every log with a model trained without its group.

    analysed: analysis records (classifier.scoring.analysis); labels, groups, writers: one per record; trainable: which
    records a fold model may train on (default all; e.g. only the train split); folds: None for one model per
    group, or that many folds that each leave whole groups out; extra: (records, labels) always trained on
    (e.g. reviewed outcomes), at `extra_weight`; variants_of: each record's analysed rewrites, trained on
    with it (settings["augment"], classifier.training.train.with_variants); styles: each record's style, for
    settings["style_weighting"]; offence_words, cue_kinds: those of the rules (classifier.model.build_estimator).
    """
    settings = {**DEFAULT_SETTINGS, **(settings or {})}
    say = progress or (lambda message: None)
    labels, groups, writers = np.asarray(labels), np.asarray(groups), np.asarray(writers)
    if styles is None and settings["calibration_folds"] == "style":
        raise ValueError("calibration_folds 'style' needs each record's style")
    styles = np.asarray(["unnamed"] * len(analysed) if styles is None else styles)
    trainable = np.ones(len(analysed), dtype=bool) if trainable is None else np.asarray(trainable, dtype=bool)
    extra_x, extra_y = extra or ([], [])
    confidence = np.zeros(len(analysed))
    flagged = np.zeros(len(analysed), dtype=bool)
    splits = _splits(groups, folds)
    for number, (train_mask, test_mask) in enumerate(splits, start=1):
        held = sorted(set(groups[test_mask].tolist()))
        say(f"held out {number} of {len(splits)}: {', '.join(held)}")
        idx = np.flatnonzero(train_mask & trainable)
        x_train = [analysed[i] for i in idx] + list(extra_x)
        y_train = list(labels[idx]) + list(extra_y)
        rewrites = [variants_of[i] for i in idx] if variants_of else []
        x_fit, y_fit, fit_groups, weights = with_variants(
            x_train, y_train, calibration_groups(writers[idx], styles[idx], settings)
            + [f"extra-{i}" for i in range(len(extra_x))],
            style_weights(styles[idx], settings["style_weighting"]) + [extra_weight] * len(extra_x), rewrites)
        params = {"classify__groups": fit_groups}
        if len(set(weights)) > 1:
            params["classify__sample_weight"] = weights
        estimator = build_estimator(settings, offence_words=offence_words, cue_kinds=cue_kinds).fit(x_fit, y_fit, **params)
        # Thresholds from the corpus rows only, as `train` chooses them (not from `extra`, e.g. reviews).
        chosen = choose_thresholds(estimator.named_steps["classify"].oof_confidence_[:len(idx)],
                                   held_by_rules(x_train[:len(idx)]), y_train[:len(idx)])
        test_idx = np.flatnonzero(test_mask)
        x_test = [analysed[i] for i in test_idx]
        model = label_columns(estimator.classes_, estimator.predict_proba(x_test))
        final, _ = apply_floor(model, rule_proba(x_test), [x["floor"] for x in x_test], threshold=chosen["review"],
                               confidence=chosen["floor_confidence"])
        confidence[test_idx] = offence_confidence(final)
        flagged[test_idx] = np.asarray(offence_decisions(final, LABELS, chosen["review"])) != NONE
    return HeldOutScores(confidence, flagged, len(splits))


def figures(gold, flagged, confidence, *, bound: bool = False) -> dict:
    """Precision, recall, F1, ECE and AP; with `bound`, also `ece_by_chance` (the model's only: it costs 400
    draws, and the keyword search's 0/1 confidences have none)."""
    positive = np.asarray(gold, dtype=bool)
    confidence = np.asarray(confidence, dtype=float)
    rep = binary_report([("x" if g else NONE) for g in positive], [("x" if f else NONE) for f in flagged])
    out = {"n": int(len(positive)), "offences": int(positive.sum()), "precision": round(rep.precision, 4),
           "recall": round(rep.recall, 4), "f1": round(rep.f1, 4),
           "ece": round(expected_calibration_error(confidence, positive), 4),
           "ap": round(float(average_precision_score(positive, confidence)), 4) if positive.any() else None}
    if bound:
        out["ece_by_chance"] = round(ece_by_chance(confidence), 4)
    return out


def ece_by_chance(confidence, *, draws: int = 400, seed: int = 0) -> float:
    """The ECE that a perfectly calibrated model would exceed one time in 20 with these confidences.

    ECE counts the sampling noise of each bin's observed rate, so on a few dozen logs a calibrated model reads
    0.05 or more. Labels are drawn as the confidences say (an offence with probability `confidence`) and the 95th
    percentile of their ECE is taken. An ECE above it is unlikely from the sample's size alone; it is one test per
    group at 5%, so among many groups a few pass it by chance, and the bound itself moves by about 0.002 with the
    draws: an ECE within that of it is at the bound, not beyond.
    """
    confidence = np.asarray(confidence, dtype=float)
    if not len(confidence):
        return 0.0
    rng = np.random.default_rng(seed)
    eces = [expected_calibration_error(confidence, rng.random(len(confidence)) < confidence) for _ in range(draws)]
    return float(np.quantile(eces, 0.95))


def held_out_report(records: list[dict], analysed: list[dict], *, by: str, settings: dict | None = None,
                    trainable=None, folds: int | None = None, extra=None, extra_weight: float = 1.0,
                    rule_scorer=None, progress=None, unread=None, unread_name: str = "unread logs") -> dict:
    """Per held-out group (and pooled): the model's, the rules' and the keyword search's figures.

    rule_scorer: the pipeline that analysed the records; needed when the settings train on rewrites, and its rules'
    offence words are the model's (else the shipped rules').
    unread: a mask of the records never read to write rules or choose settings; each group that has any (and the
    pooled row) then also carries `unread` ({"n", "offences", "methods"}, as the group), its figures on those
    records alone, and the report names them `unread_of` (unread_name, e.g. "test logs").
    """
    kinds = {**DEFAULT_SETTINGS, **(settings or {})}["augment"]
    variants_of = None
    if kinds:
        if rule_scorer is None:
            raise ValueError("settings with `augment` need the rule_scorer to analyse the rewrites")
        variants_of = analyse_variants(rule_scorer, [r["text"] for r in records], kinds)
    groups = np.array([group_of(r, by) for r in records])
    writers = [writer_of(r["incident_id"]) for r in records]
    labels = [r["label"] for r in records]
    scores = held_out_scores(analysed, labels, groups, writers, settings=settings, trainable=trainable,
                             folds=folds, extra=extra, extra_weight=extra_weight, variants_of=variants_of,
                             styles=[style_of(r) for r in records], progress=progress,
                             offence_words=None if rule_scorer is None else rule_scorer.rules.offence_lemmas,
                             cue_kinds=None if rule_scorer is None else rule_scorer.rules.cue_kinds)
    gold = np.asarray(labels) != NONE
    rule_conf = np.array([1.0 - x["rule_probabilities"][NONE] for x in analysed])
    keyword = KeywordSearch()
    keyword_flag = np.array([keyword.predict(r["text"]) != NONE for r in records])
    methods = {"model": (scores.flagged, scores.confidence), "rules": (rule_conf >= RULES_ONLY_THRESHOLD, rule_conf),
               "keyword": (keyword_flag, keyword_flag.astype(float))}

    def row(mask) -> dict:
        return {name: figures(gold[mask], flag[mask], conf[mask], bound=name == "model")
                for name, (flag, conf) in methods.items()}

    def part(mask) -> dict:
        return {"n": int(mask.sum()), "offences": int(gold[mask].sum()), "methods": row(mask)}

    unread_mask = np.zeros(len(gold), bool) if unread is None else np.asarray(unread, dtype=bool)
    rows = []
    for g in sorted(set(groups.tolist())):
        entry = {"group": g, **part(groups == g)}
        if (unread_mask & (groups == g)).any():
            entry["unread"] = part(unread_mask & (groups == g))
        rows.append(entry)
    named = [r for r in rows if r["offences"] >= MIN_OFFENCES_FOR_WORST] or rows
    worst = {"f1": min(named, key=lambda r: r["methods"]["model"]["f1"])["group"],
             "recall": min(named, key=lambda r: r["methods"]["model"]["recall"])["group"],
             "ece": max(named, key=lambda r: r["methods"]["model"]["ece"])["group"]}
    report = {"by": by, "models_trained": scores.models, "groups": rows, "pooled": part(np.ones(len(gold), bool)),
              "worst": worst}
    if unread_mask.any():
        report["pooled"]["unread"] = part(unread_mask)
        report["unread_of"] = unread_name
    return report


def format_held_out(report: dict) -> str:
    by = report["by"]
    lines = [f"held out by {by} ({report['models_trained']} models, each trained without the {by} it scores)",
             f"{by:28} {'logs':>5} {'off':>4} | " + " | ".join(f"{m + ' P':>9} {'R':>5} {'F1':>5} {'ECE':>5}"
                                                              for m in METHODS)]

    def line(name, row):
        return f"{name:28} {row['n'] if 'n' in row else '':>5} {row['offences']:>4} | " + " | ".join(
            f"{row['methods'][m]['precision']:9.3f} {row['methods'][m]['recall']:5.3f} "
            f"{row['methods'][m]['f1']:5.3f} {row['methods'][m]['ece']:5.3f}" for m in METHODS)

    lines += [line(r["group"], r) for r in report["groups"]]
    lines.append(line("pooled", report["pooled"]))
    by_group = {r["group"]: r["methods"]["model"] for r in report["groups"]}
    worst = report["worst"]
    lines.append(f"worst held-out {by}: F1 {worst['f1']} ({by_group[worst['f1']]['f1']:.3f}), recall "
                 f"{worst['recall']} ({by_group[worst['recall']]['recall']:.3f}), ECE {worst['ece']} "
                 f"({by_group[worst['ece']]['ece']:.3f})")
    lines.append(_beyond_chance([(r["group"], r) for r in report["groups"]]))
    if "unread_of" in report:
        name = report["unread_of"]
        lines += ["", f"the same models on each {by}'s {name} only, never read to write the rules or choose settings "
                      f"(* fewer than {MIN_OFFENCES_FOR_WORST} offences: mostly noise)"]
        lines += [line(r["group"] + (" *" if r["unread"]["offences"] < MIN_OFFENCES_FOR_WORST else ""), r["unread"])
                  for r in report["groups"] if "unread" in r]
        if "unread" in report["pooled"]:
            lines.append(line("pooled", report["pooled"]["unread"]))
        lines.append(_beyond_chance([(r["group"], r["unread"]) for r in report["groups"] if "unread" in r]))
        missing = [r["group"] for r in report["groups"] if "unread" not in r]
        if missing:
            lines.append(f"no {name}: " + ", ".join(missing))
    return "\n".join(lines)


def _beyond_chance(rows) -> str:
    """The groups whose model ECE is more than sampling alone gives a calibrated model (`ece_by_chance`)."""
    beyond = [f"{name} {m['ece']:.3f} > {m['ece_by_chance']:.3f}" for name, row in rows
              for m in [row["methods"]["model"]] if m["ece"] > m["ece_by_chance"]]
    return ("model ECE above what a calibrated model reaches one time in 20 on as many logs: "
            + ("; ".join(beyond) or "none"))
