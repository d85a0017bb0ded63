"""The six labels of the data contract, their priority and their HOCR families."""

from __future__ import annotations

# Most serious first: an incident gets the first label it discloses (the README's label table).
LABELS: tuple[str, ...] = (
    "rape",
    "other_sexual",
    "violence_with_injury",
    "violence_without_injury",
    "stalking_harassment",
    "none",
)
OFFENCE_LABELS: tuple[str, ...] = LABELS[:-1]
NONE = "none"

FAMILY: dict[str, str] = {
    "rape": "sexual",
    "other_sexual": "sexual",
    "violence_with_injury": "violence",
    "violence_without_injury": "violence",
    "stalking_harassment": "stalking_harassment",
}

SEVERITY: dict[str, int] = {label: len(LABELS) - i for i, label in enumerate(LABELS)}


def covers(recorded: str, disclosed: str) -> bool:
    """Whether a crime recorded as `recorded` covers an incident disclosing `disclosed`.

    Same label, or a more serious one of the same family (docs/formats.md).
    """
    if recorded == disclosed:
        return True
    fam = FAMILY.get(recorded)
    return fam is not None and fam == FAMILY.get(disclosed) and SEVERITY[recorded] > SEVERITY[disclosed]


def offence_confidence(probabilities, classes=LABELS):
    """P(any offence) = 1 - P(none): the contract's `confidence`, per row of an (n, labels) array of
    probabilities whose columns are `classes`."""
    import numpy as np

    probabilities = np.asarray(probabilities, dtype=float)
    return 1.0 - probabilities[:, list(classes).index(NONE)]
