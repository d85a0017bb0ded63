"""`evaluate`: the model beside the rules alone, a keyword search and word n-grams alone, on labelled logs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from classifier.scoring.analysis import analyse
from classifier.evaluation.metrics import (KeywordSearch, binary_report, expected_calibration_error, offence_decisions,
                                   reliability_bins)
from classifier.labels import LABELS, NONE, offence_confidence
from classifier.training.thresholds import pr_points, precision_at_recall, recall_at_precision

# model: what `classify` and `scan` give (the model held up by the rule floor); model_alone: the trained
# model's own probabilities at its threshold, to show what the floor adds.
METHODS = ("model", "model_alone", "rules", "keyword", "word_ngrams")
SATURATED = 0.999


def band_report(gold: list[str], confidence, threshold: float, likely: float) -> dict:
    """Flags and precision in each band, and how many flags read a saturated confidence."""
    positive = np.asarray(gold) != NONE
    # Six places, as a score is written: 1 - (1 - t) can come back a hair under t.
    confidence = np.round(np.asarray(confidence, dtype=float), 6)
    out = {}
    for band, low, high in (("likely", likely, np.inf), ("review", threshold, likely)):
        held = (confidence >= low) & (confidence < high)
        out[band] = {"flags": int(held.sum()),
                     "precision": round(float(positive[held].mean()), 4) if held.any() else None}
    flagged = confidence >= threshold
    out["saturated_share"] = round(float((confidence[flagged] >= SATURATED).mean()), 4) if flagged.any() else 0.0
    return out


def method_report(gold: list[str], proba: np.ndarray, threshold: float, *, likely: float | None = None,
                  decided_by: list[str] | None = None) -> dict:
    """Metrics of one method from its six-label probabilities (columns in LABELS order)."""
    predicted = offence_decisions(proba, LABELS, threshold)
    rep = binary_report(gold, predicted)
    confidence = offence_confidence(proba)
    positive = np.asarray(gold) != NONE
    points = pr_points(confidence, positive)
    confusion = [[sum(1 for g, p in zip(gold, predicted) if g == gl and p == pl) for pl in LABELS] for gl in LABELS]
    report = {
        "threshold": round(float(threshold), 6),
        "precision": round(rep.precision, 4),
        "recall": round(rep.recall, 4),
        "f1": round(rep.f1, 4),
        "offences": rep.positives,
        "caught": rep.tp,
        "recall_at_precision_0.9": round(recall_at_precision(points, 0.9), 4),
        "precision_at_recall_0.95": round(precision_at_recall(points, 0.95), 4),
        "label_accuracy": round(rep.label_accuracy, 4),
        "expected_calibration_error": round(expected_calibration_error(confidence, positive), 4),
        "confusion": {"labels": list(LABELS), "rows_gold_columns_predicted": confusion},
        "reliability": reliability_bins(confidence, positive),
        "pr_curve": [[round(t, 6), round(p, 4), round(r, 4)] for t, p, r in points],
    }
    if likely is not None:
        report["bands"] = band_report(gold, confidence, threshold, likely)
    if decided_by is not None:
        report["decided_by"] = {who: {"flags": sum(1 for d in decided_by if d == who),
                                      "offences": sum(1 for d, g in zip(decided_by, gold) if d == who and g != NONE)}
                                for who in ("rules", "model", "both")}
    return report


def label_columns(estimator_classes, proba) -> np.ndarray:
    """An estimator's probabilities with their columns in LABELS order."""
    classes = list(estimator_classes)
    # A label the estimator never saw in training has probability 0.
    out = np.zeros((proba.shape[0], len(LABELS)))
    for column, label in enumerate(LABELS):
        if label in classes:
            out[:, column] = proba[:, classes.index(label)]
    return out


def evaluate(texts: list[str], gold: list[str], *, model_scorer, baseline) -> dict:
    """Run every method on the same logs. `baseline` is a fitted word n-gram classifier."""
    records, rule_proba = [], []
    for doc in model_scorer.rule_scorer.docs(texts):
        records.append(analyse(doc))
        rule_proba.append([doc._.probabilities[label] for label in LABELS])
    model_proba = model_scorer.model_proba(records)
    final_proba, decided_by = model_scorer.final_proba(records)
    keyword = KeywordSearch()
    keyword_proba = np.array([[1.0 if keyword.predict(t) == label else 0.0 for label in LABELS] for t in texts])
    word_proba = label_columns(baseline.classes_, baseline.predict_proba(records))
    thresholds = model_scorer.manifest["thresholds"]
    results = {
        "model": method_report(gold, final_proba, thresholds["review"], likely=thresholds["likely"],
                               decided_by=decided_by),
        "model_alone": method_report(gold, model_proba, thresholds["review"], likely=thresholds["likely"]),
        "rules": method_report(gold, np.asarray(rule_proba), 0.5),
        "keyword": method_report(gold, keyword_proba, 0.5),
        "word_ngrams": method_report(gold, word_proba, 0.5),
    }
    # Where the model's `likely` band was placed, and what it gave there (classifier.training.train).
    likely_band = {"likely": thresholds["likely"],
                   "placed_on": thresholds.get("likely_source", thresholds.get("curve_source")),
                   "rule_blind": model_scorer.manifest.get("rule_blind_metrics")}
    return {"n": len(gold), "positives": int(sum(g != NONE for g in gold)), "model": model_scorer.model_name,
            "rules": model_scorer.rules.version, "methods": results, "likely_band": likely_band}


def read_labelled(path: Path, *, split: str = "test", encoding: str = "utf-8") -> list[tuple[str, str]]:
    """(text, label) of a corpus folder's `split`, or of a CSV / JSON Lines file of incidents with a `label`."""
    from classifier.corpus import load_corpus
    from classifier.errors import InputError
    from classifier.io.readers import read_incidents

    path = Path(path)
    if path.is_dir():
        records = [(r["text"], r["label"]) for r in load_corpus(path, (split,))]
    else:
        records = []
        for incident in read_incidents(path, encoding=encoding):
            label = str(incident.extra.get("label", "")).strip()
            if label not in LABELS:
                raise InputError(path, incident.line, f"label {label!r} is not one of: {', '.join(LABELS)}")
            records.append((incident.text, label))
    if not records:
        raise InputError(path, None, "no labelled logs to evaluate")
    return records


class LabelledEvaluation:
    """What `evaluate` does: a labelled set scored by every method, then the model's settings trained without
    each style (or writer) of the corpus and scored on it.

    model: a version or folder (default the current model); corpus: the corpus whose train split trains the
    word n-gram baseline and whose styles and writers are held out in turn; held_out: the groupings to run.
    """

    def __init__(self, labelled: Path, *, corpus: Path, model: str | Path | None = None, split: str = "test",
                 encoding: str = "utf-8", held_out=("style", "writer")):
        from classifier.corpus import SPLITS, load_corpus, split_of
        from classifier.model import build_word_baseline
        from classifier.model_versions import resolve
        from classifier.pipeline.ruleset import load_rules
        from classifier.scoring.scorers import ModelScorer
        from classifier.training.train import analyse_texts

        self.scorer = ModelScorer(load_rules(), resolve(model))
        self.records = read_labelled(labelled, split=split, encoding=encoding)
        self.groupings = list(dict.fromkeys(h for h in held_out if h != "none"))
        # The held-out runs read the whole corpus; the word n-gram baseline only its train split.
        self.corpus = list(load_corpus(corpus, SPLITS if self.groupings else ("train",)))
        self.analysed = analyse_texts(self.scorer.rule_scorer, (r["text"] for r in self.corpus))
        self.trainable = [split_of(r["incident_id"]) == "train" for r in self.corpus]
        train = [i for i, t in enumerate(self.trainable) if t]
        self.baseline = build_word_baseline(self.scorer.manifest.get("settings")).fit(
            [self.analysed[i] for i in train], [self.corpus[i]["label"] for i in train])

    def report(self) -> dict:
        return evaluate([t for t, _ in self.records], [g for _, g in self.records], model_scorer=self.scorer,
                        baseline=self.baseline)

    def held_out(self, by: str, progress=None) -> dict:
        from classifier.corpus import split_of
        from classifier.evaluation.held_out import held_out_report
        from classifier.model import manifest_settings

        return held_out_report(self.corpus, self.analysed, by=by, settings=manifest_settings(self.scorer.manifest),
                               trainable=self.trainable, rule_scorer=self.scorer.rule_scorer, progress=progress,
                               unread=[split_of(r["incident_id"]) == "test" for r in self.corpus],
                               unread_name="test logs")


def format_report(report: dict) -> str:
    lines = [f"{report['n']} labelled logs ({report['positives']} with an offence); model {report['model']}", ""]
    header = f"{'':26}" + "".join(f"{m:>13}" for m in METHODS)
    lines.append(header)
    rows = [("threshold", "threshold"), ("precision", "precision"), ("recall", "recall"), ("F1", "f1"),
            ("recall at precision 0.9", "recall_at_precision_0.9"),
            ("precision at recall 0.95", "precision_at_recall_0.95"),
            ("label accuracy (positives)", "label_accuracy"), ("expected calibration error", "expected_calibration_error")]
    for name, key in rows:
        lines.append(f"{name:26}" + "".join(f"{report['methods'][m][key]:13.3f}" for m in METHODS))
    for method in ("model", "model_alone"):
        bands = report["methods"][method]["bands"]
        line = f"{method} bands: " + "; ".join(
            f"{band} {bands[band]['flags']} flags, precision "
            + ("-" if bands[band]["precision"] is None else f"{bands[band]['precision']:.3f}")
            for band in ("likely", "review"))
        lines += ["", line + f"; confidence >= {SATURATED}: {bands['saturated_share']:.1%} of flags"]
    placed = report.get("likely_band")
    if placed:
        line = f"model likely band from {placed['likely']:.3f}, placed on the {placed['placed_on']}"
        blind = placed.get("rule_blind")
        if blind and blind.get("likely_precision") is not None:
            line += f": there {blind['likely_flags']} flags at precision {blind['likely_precision']:.3f} (in sample)"
        if blind and blind.get("false_floor_share") is not None:
            line += f"; {blind['false_floor_share']:.1%} of their none logs keep a rule floor"
        lines.append(line)
    decided = report["methods"]["model"]["decided_by"]
    lines.append("model flags decided by: " + ", ".join(
        f"{who} {d['flags']} ({d['offences']} offences)" for who, d in decided.items()))
    for method in ("model", "rules"):
        lines += ["", f"confusion matrix, {method} (rows gold, columns predicted)"]
        short = ["rape", "oth_sex", "v_inj", "v_no_inj", "s&h", "none"]
        lines.append(f"{'':24}" + "".join(f"{s:>9}" for s in short))
        for label, row in zip(LABELS, report["methods"][method]["confusion"]["rows_gold_columns_predicted"]):
            lines.append(f"{label:24}" + "".join(f"{v:9d}" for v in row))
    return "\n".join(lines)


def plot_report(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (rel, pr) = plt.subplots(1, 2, figsize=(11, 5))
    rel.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    # Markers sized by the number of logs in the bin, with 95% Wilson intervals: a bin of two logs says little.
    for method, colour, shift in (("model", "tab:blue", 0.0), ("rules", "tab:orange", 0.008),
                                  ("word_ngrams", "tab:green", -0.008)):
        bins = report["methods"][method]["reliability"]
        x = [b["mean_confidence"] + shift for b in bins]
        y = [b["observed"] for b in bins]
        err = [[max(0.0, b["observed"] - b.get("observed_95_low", b["observed"])) for b in bins],
               [max(0.0, b.get("observed_95_high", b["observed"]) - b["observed"]) for b in bins]]
        rel.errorbar(x, y, yerr=err, fmt="none", ecolor=colour, alpha=0.5, capsize=2)
        rel.scatter(x, y, s=[12 + 4 * b["count"] ** 0.5 * 4 for b in bins], color=colour, alpha=0.8,
                    label=f"{method} (ECE {report['methods'][method]['expected_calibration_error']:.3f})")
        for b in bins if method == "model" else []:
            rel.annotate(str(b["count"]), (b["mean_confidence"], b["observed"]), fontsize=7,
                         textcoords="offset points", xytext=(5, -11))
    rel.set(xlabel="confidence (1 - P(none))", ylabel="share with an offence",
            title="Reliability diagram (bins of 0.1; size = logs; bars = 95% interval)", xlim=(-0.02, 1.02),
            ylim=(-0.02, 1.05))
    rel.legend(loc="upper left", fontsize=8)
    for method, colour in (("model", "tab:blue"), ("rules", "tab:orange"), ("word_ngrams", "tab:green"),
                           ("keyword", "tab:red")):
        curve = report["methods"][method]["pr_curve"]
        pr.plot([c[2] for c in curve], [c[1] for c in curve], color=colour,
                label=f"{method} (F1 {report['methods'][method]['f1']:.3f})", drawstyle="steps-post")
    pr.set(xlabel="recall", ylabel="precision", title="Precision-recall", xlim=(0, 1.01), ylim=(0, 1.01))
    pr.legend(loc="lower left", fontsize=8)
    fig.suptitle(f"{report['n']} logs, model {report['model']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
