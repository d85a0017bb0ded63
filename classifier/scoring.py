"""Scores of the data contract from the rule pipeline: label, confidence, six probabilities, evidence."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator

from spacy.tokens import Doc

from classifier.io.readers import Incident
from classifier.labels import LABELS, NONE, SEVERITY
from classifier.pipeline import build_pipeline
from classifier.ruleset import RuleSet


def rules_model_name(rules: RuleSet) -> str:
    """The `model` field of scores from the rules alone: the rules' version."""
    return "rules-" + rules.version.split(":")[-1][:12]


class RuleScorer:
    """Scores incidents with the rules alone."""

    def __init__(self, rules: RuleSet, *, batch_size: int = 64):
        self.rules = rules
        self.nlp = build_pipeline(rules)
        self.batch_size = batch_size
        self.model_name = rules_model_name(rules)

    def docs(self, texts: Iterable[str]) -> Iterator[Doc]:
        return self.nlp.pipe(texts, batch_size=self.batch_size)

    def read(self, incidents: Iterable[Incident]) -> Iterator[tuple[Incident, Doc]]:
        """Each incident with the pipeline's reading of its text, streamed in batches."""
        pending: deque[Incident] = deque()

        def texts():
            for incident in incidents:
                pending.append(incident)
                yield incident.text

        for doc in self.docs(texts()):
            yield pending.popleft(), doc

    def score(self, incidents: Iterable[Incident]) -> Iterator[tuple[Incident, dict]]:
        for incident, doc in self.read(incidents):
            yield incident, score_record(incident.incident_id, doc, self.model_name)


def score_record(incident_id: str, doc: Doc, model: str, probabilities: dict[str, float] | None = None) -> dict:
    """The contract's score for one incident: the pipeline's evidence, and the model's or the rules' probabilities."""
    probabilities = {label: round((probabilities or doc._.probabilities)[label], 6) for label in LABELS}
    # Rounding can leave the sum a hair off 1; the contract says they sum to 1, so put the residue on `none`.
    probabilities[NONE] = round(probabilities[NONE] + 1.0 - sum(probabilities.values()), 6)
    return {
        "incident_id": incident_id,
        "label": max(LABELS, key=lambda label: (probabilities[label], SEVERITY[label])),
        "confidence": round(1.0 - probabilities[NONE], 6),
        "probabilities": probabilities,
        "evidence": doc._.evidence,
        "model": model,
    }


class ModelScorer:
    """Scores incidents with a trained model version; the rule pipeline supplies features and evidence."""

    def __init__(self, rules: RuleSet, folder, *, batch_size: int = 256):
        from classifier.artefacts import load_model

        self.rules = rules
        self.rule_scorer = RuleScorer(rules)
        self.estimator, self.manifest = load_model(folder, rules_version=rules.version)
        self.model_name = self.manifest["version"]
        self.classes = list(self.estimator.classes_)
        self.batch_size = batch_size

    def score(self, incidents: Iterable[Incident]) -> Iterator[tuple[Incident, dict]]:
        batch: list[tuple[Incident, Doc]] = []
        for incident, doc in self.rule_scorer.read(incidents):
            batch.append((incident, doc))
            if len(batch) >= self.batch_size:
                yield from self._score_batch(batch)
                batch = []
        if batch:
            yield from self._score_batch(batch)

    def _score_batch(self, batch):
        records = self.score_docs([doc for _, doc in batch], [incident.incident_id for incident, _ in batch])
        yield from zip((incident for incident, _ in batch), records)

    def score_docs(self, docs: list[Doc], incident_ids: list[str] | None = None) -> list[dict]:
        """Scores for docs the rule pipeline has already read."""
        from classifier.analysis import analyse

        proba = self.estimator.predict_proba([analyse(doc) for doc in docs])
        ids = incident_ids or ["-"] * len(docs)
        return [
            score_record(i, doc, self.model_name, {label: float(row[self.classes.index(label)]) for label in LABELS})
            for i, doc, row in zip(ids, docs, proba)
        ]
