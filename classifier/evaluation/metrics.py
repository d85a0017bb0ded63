"""Metrics shared by the benchmark scripts and `evaluate`: binary offence/no-offence and label accuracy."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from classifier.labels import NONE, OFFENCE_LABELS, SEVERITY, offence_confidence

# The plain keyword search a CDI analyst would otherwise run: offence words, most serious label wins.
KEYWORDS: dict[str, tuple[str, ...]] = {
    "rape": ("rape", "raped", "raping"),
    "other_sexual": ("sexual assault", "sexually assaulted", "indecent", "groped", "exposed himself", "exposure", "voyeurism"),
    "violence_with_injury": ("stabbed", "wounding", "abh", "gbh", "injury", "injuries", "injured", "bruise", "bruising", "bleeding", "cut"),
    "violence_without_injury": ("assault", "assaulted", "hit", "punched", "kicked", "slapped", "pushed", "headbutted",
                                "strangled", "choked", "spat", "threatened to kill", "attacked"),
    "stalking_harassment": ("harassment", "harassing", "harassed", "stalking", "stalked", "malicious", "controlling", "coercive"),
}


class KeywordSearch:
    """Label = the most serious label with a keyword anywhere in the text; `none` when there is none."""

    def __init__(self, keywords: dict[str, tuple[str, ...]] = KEYWORDS):
        self.patterns = {
            label: re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)
            for label, words in keywords.items()
        }

    def predict(self, text: str) -> str:
        hits = [label for label, pattern in self.patterns.items() if pattern.search(text)]
        return max(hits, key=SEVERITY.__getitem__) if hits else NONE


@dataclass
class BinaryReport:
    n: int
    positives: int
    tp: int
    fp: int
    fn: int
    label_correct: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def label_accuracy(self) -> float:
        """Share of the truly positive incidents given exactly their label."""
        return self.label_correct / self.positives if self.positives else 0.0


def binary_report(gold: list[str], predicted: list[str]) -> BinaryReport:
    tp = fp = fn = correct = positives = 0
    for g, p in zip(gold, predicted, strict=True):
        if g != NONE:
            positives += 1
            correct += g == p
            if p != NONE:
                tp += 1
            else:
                fn += 1
        elif p != NONE:
            fp += 1
    return BinaryReport(len(gold), positives, tp, fp, fn, correct)


def expected_calibration_error(confidence, positive, bins: int = 10) -> float:
    """Mean |confidence - observed rate| over equal-width bins, weighted by the bins' shares."""
    conf = np.asarray(confidence, dtype=float)
    pos = np.asarray(positive, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=False), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.mean() * abs(conf[mask].mean() - pos[mask].mean())
    return float(total)


def reliability_bins(confidence, positive, bins: int = 10) -> list[dict]:
    conf = np.asarray(confidence, dtype=float)
    pos = np.asarray(positive, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=False), 0, bins - 1)
    out = []
    for b in range(bins):
        mask = which == b
        if mask.any():
            n, k = int(mask.sum()), float(pos[mask].sum())
            lo, hi = wilson_interval(k, n)
            out.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": n,
                        "mean_confidence": float(conf[mask].mean()), "observed": k / n,
                        "observed_95_low": lo, "observed_95_high": hi})
    return out


def wilson_interval(successes: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion: honest error bars for bins of a few logs."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def offence_decisions(probabilities: np.ndarray, classes, threshold: float) -> list[str]:
    """The label the tool gives: none below the threshold, else the most probable offence label."""
    classes = list(classes)
    offence_idx = [classes.index(label) for label in OFFENCE_LABELS]
    confidence = offence_confidence(probabilities, classes)
    top = np.asarray(OFFENCE_LABELS)[probabilities[:, offence_idx].argmax(axis=1)]
    # 1 - (1 - t) can come back a hair under t; a score is written to six places, so compare at that precision.
    return [str(t) if c >= threshold - 1e-9 else NONE for t, c in zip(top, confidence)]
