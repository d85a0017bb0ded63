"""The rules are a floor and the model ranks: how a trained model's probabilities meet the rules' verdict.

A plain disclosure that no excluding context touches (an offence cue of weight at least the pipeline's
`floor_weight`, 0.8) is always flagged, whatever the model says: a model that learnt how its corpus is written
must not argue away "struck the victim with his fists" because a force writes it another way. So is anything
the rules alone flag (their offence probability at least RULES_FLAG, as `classify --rules-only` flags): lighter
cues, such as an attempted bite or a handgun waved about, add up there. The corpus, written to be hard, holds
them mostly in `none` logs and the model learnt to doubt them; in real records, where an offence word is rare
outside an offence, the rules alone flagged them rightly and the model did not. The full model's flags are
therefore always the rules' flags and more, at the model's own threshold (`scan --threshold` above it keeps
only floor cues). The model may raise the confidence, choose the band, order the queue and flag incidents that
no rule caught.

For an incident the rules hold, the confidence is the highest of the model's, the threshold (so the label is
an offence and the incident is flagged) and the floor's own confidence: the share of training logs that
disclosed an offence among those the rules held and the model, out of fold, would not have flagged (recorded
in the model's manifest). Where rules and model disagree the confidence says so, and a reviewer sees it in
the `review` band. When the model would not have flagged it, the offence labels share the mass as the rules
say, since the model's shares then speak for `none`.

`decided_by` says what raised the incident to its label: `rules` (the rules held it and the model would not
have flagged it), `model` (the rules do not hold it), `both`, or `none` (not an offence at this threshold).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from classifier.labels import LABELS, NONE, offence_confidence

_NONE_INDEX = LABELS.index(NONE)
_OFFENCES = [i for i, label in enumerate(LABELS) if label != NONE]
# The rules' own flag threshold: with the rules alone, an incident is an offence at this confidence.
RULES_FLAG = 0.5


def rules_hold(floors: Sequence[Sequence[str]], rule_proba: np.ndarray) -> np.ndarray:
    """Which incidents the rules hold: a floor cue, or the rules alone would flag them (offence probability at
    least RULES_FLAG). rule_proba: (n, 6) in LABELS order."""
    rule_any = offence_confidence(np.asarray(rule_proba, dtype=float).reshape(len(floors), len(LABELS)))
    # Six places, as `--rules-only` compares a written score with its threshold.
    return np.array([bool(f) for f in floors], dtype=bool) | (np.round(rule_any, 6) >= RULES_FLAG)


def floor_confidence(held: Sequence, gold: Sequence[str], model_any=None, threshold: float = 1.0) -> float:
    """The share of logs that disclose an offence among those the rules hold and the model would not flag.

    `held`: whether the rules hold each log (`rules_hold`; a list of floor labels counts where it is not empty).
    `model_any`: each log's out-of-fold model confidence (None: every held log counts). The share is taken
    with one log of each kind added (a uniform prior), so a handful of logs cannot make it 0 or 1.
    """
    doubted = [True] * len(gold) if model_any is None else [m < threshold for m in model_any]
    offences = [g != NONE for h, g, d in zip(held, gold, doubted, strict=True) if h and d]
    return float((sum(offences) + 1) / (len(offences) + 2))


def rule_proba(records: Sequence[dict]) -> np.ndarray:
    """The rules' six probabilities of each analysis record (classifier.scoring.analysis), in LABELS order: what
    `apply_floor` takes as `rule_proba`."""
    return np.array([[record["rule_probabilities"][label] for label in LABELS] for record in records])


def held_by_rules(records: Sequence[dict]) -> np.ndarray:
    """`rules_hold` of analysis records (classifier.scoring.analysis)."""
    return rules_hold([record["floor"] for record in records], rule_proba(records))


def apply_floor(model_proba: np.ndarray, rule_proba: np.ndarray, floors: Sequence[Sequence[str]], *,
                threshold: float, confidence: float) -> tuple[np.ndarray, list[str]]:
    """The final six probabilities (columns in LABELS order) and who decided, for each incident.

    model_proba, rule_proba: (n, 6) in LABELS order; floors: each incident's floor labels (may be empty);
    threshold: the model's flag threshold; confidence: the floor's confidence (`floor_confidence`). The rules
    hold an incident with a floor label or that they alone flag (`rules_hold`).
    """
    model_proba = np.asarray(model_proba, dtype=float)
    rule_proba = np.asarray(rule_proba, dtype=float).reshape(model_proba.shape)
    model_any = offence_confidence(model_proba)
    model_flags = model_any >= threshold
    held = rules_hold(floors, rule_proba)
    # Where the model would not have flagged it, its offence shares speak for `none`: the rules' are used.
    source = np.where(model_flags[:, None], model_proba, rule_proba)[:, _OFFENCES]
    total = source.sum(axis=1, keepdims=True)
    shares = np.divide(source, total, out=np.full_like(source, 1.0 / len(_OFFENCES)), where=total > 0)
    final_any = np.maximum(model_any, max(threshold, confidence))
    out = model_proba.copy()
    rows = np.flatnonzero(held)
    out[np.ix_(rows, _OFFENCES)] = shares[rows] * final_any[rows, None]
    out[rows, _NONE_INDEX] = 1.0 - final_any[rows]
    decided = np.where(held, np.where(model_flags, "both", "rules"), np.where(model_flags, "model", "none"))
    return out, decided.tolist()


def flag_recall(model_any: np.ndarray, has_floor: np.ndarray, positive: np.ndarray, threshold: float) -> float:
    """Recall of the flags at `threshold` with the floor: the model's, and every incident the rules hold."""
    positive = np.asarray(positive, dtype=bool)
    flagged = (np.asarray(model_any) >= threshold) | np.asarray(has_floor, dtype=bool)
    return float((flagged & positive).sum() / max(positive.sum(), 1))
