"""Thresholds a QA lead can choose by meaning: the confidence that reached a recall, or a precision, on dev."""

from __future__ import annotations

import math

import numpy as np

PLACES = 6


def round_down(threshold: float) -> float:
    """A threshold to the manifest's six places, rounded down.

    A threshold is the confidence of one dev log; rounding it up would leave that log below it.
    """
    return math.floor(threshold * 10**PLACES) / 10**PLACES


def pr_points(confidence, positive) -> list[tuple[float, float, float]]:
    """(threshold, precision, recall) at every distinct confidence, highest threshold first."""
    conf = np.asarray(confidence, dtype=float)
    pos = np.asarray(positive, dtype=bool)
    order = np.argsort(-conf, kind="stable")
    conf, pos = conf[order], pos[order]
    tp = np.cumsum(pos)
    fp = np.cumsum(~pos)
    total = max(int(pos.sum()), 1)
    points = []
    for i in range(len(conf)):
        if i + 1 < len(conf) and conf[i + 1] == conf[i]:
            continue
        points.append((float(conf[i]), float(tp[i] / (tp[i] + fp[i])), float(tp[i] / total)))
    return points


def threshold_for_recall(points, target: float) -> float:
    """The highest threshold whose recall reaches the target."""
    for threshold, _, recall in points:
        if recall >= target:
            return threshold
    return points[-1][0] if points else 0.0


def threshold_for_precision(points, target: float) -> float:
    """The lowest threshold at or above which precision stays at or above the target."""
    best = 1.0
    for threshold, precision, _ in points:
        if precision >= target:
            best = threshold
        else:
            break
    return best


def threshold_above(points, floor: float, target: float) -> float:
    """The lowest threshold strictly above `floor` at and above which precision stays at or above the target.

    The `likely` band starts here: above the flag threshold, so that both bands mean something. When no such
    point reaches the target, the highest confidence seen (a `likely` band of the surest few).
    """
    # `floor` is stored rounded down to six places; the logs held exactly at the threshold (the floor's, and the
    # one that set it) lie within that rounding above it and belong to the flag threshold, not to `likely`.
    above = [p for p in points if p[0] >= floor + 10**-PLACES]
    if not above:
        return min(1.0, floor + 10**-PLACES)
    return threshold_for_precision(above, target) if above[0][1] >= target else above[0][0]


def lowest_threshold_above(points, floor: float, target: float) -> float:
    """The lowest threshold strictly above `floor` whose precision (over every log at or above it) reaches the
    target: the most recall at that precision.

    For a set of a few hundred logs, where one false flag among the first few would stop `threshold_above` at
    the very top. When no point reaches the target, the highest confidence seen.
    """
    above = [p for p in points if p[0] >= floor + 10**-PLACES]
    if not above:
        return min(1.0, floor + 10**-PLACES)
    reaching = [threshold for threshold, precision, _ in above if precision >= target]
    return min(reaching) if reaching else above[0][0]


def recall_at_precision(points, target: float) -> float:
    return max((r for _, p, r in points if p >= target), default=0.0)


def precision_at_recall(points, target: float) -> float:
    return max((p for _, p, r in points if r >= target), default=0.0)


def thin_curve(points, keep: int = 200) -> list[list[float]]:
    """A manifest-sized curve: at most `keep` points, always including the ends."""
    if len(points) > keep:
        points = [points[i] for i in np.unique(np.linspace(0, len(points) - 1, keep).astype(int))]
    return [[round_down(t), round(p, PLACES), round(r, PLACES)] for t, p, r in points]
