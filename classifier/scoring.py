"""Scores of the data contract from the rule pipeline: label, confidence, six probabilities, evidence."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

from spacy.tokens import Doc

from classifier.io.readers import Incident
from classifier.labels import LABELS, NONE
from classifier.pipeline import build_pipeline
from classifier.ruleset import RuleSet


class RuleScorer:
    """Scores incidents with the rules alone."""

    def __init__(self, rules: RuleSet, *, batch_size: int = 64):
        self.rules = rules
        self.nlp = build_pipeline(rules)
        self.batch_size = batch_size
        self.model_name = "rules-" + rules.version.split(":")[-1][:12]

    def docs(self, texts: Iterable[str]) -> Iterator[Doc]:
        return self.nlp.pipe(texts, batch_size=self.batch_size)

    def score(self, incidents: Iterable[Incident]) -> Iterator[tuple[Incident, dict]]:
        pending: deque[Incident] = deque()

        def texts():
            for incident in incidents:
                pending.append(incident)
                yield incident.text

        for doc in self.docs(texts()):
            incident = pending.popleft()
            yield incident, score_record(incident.incident_id, doc, self.model_name)


def score_record(incident_id: str, doc: Doc, model: str) -> dict:
    probabilities = {label: round(doc._.probabilities[label], 6) for label in LABELS}
    # Rounding can leave the sum a hair off 1; the contract says they sum to 1, so put the residue on `none`.
    probabilities[NONE] = round(probabilities[NONE] + 1.0 - sum(probabilities.values()), 6)
    return {
        "incident_id": incident_id,
        "label": doc._.label,
        "confidence": round(1.0 - probabilities[NONE], 6),
        "probabilities": probabilities,
        "evidence": doc._.evidence,
        "model": model,
    }
