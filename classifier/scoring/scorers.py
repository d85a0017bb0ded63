"""Scores of the data contract from the rule pipeline: label, confidence, six probabilities, evidence."""

from __future__ import annotations

import copy
import functools
from collections import deque
from collections.abc import Iterable, Iterator

import numpy as np
from spacy.tokens import Doc

from classifier.scoring.floor import RULES_FLAG, apply_floor, rule_proba
from classifier.io.readers import Incident
from classifier.labels import LABELS, NONE, OFFENCE_LABELS, SEVERITY
from classifier.pipeline import build_pipeline
from classifier.pipeline.ruleset import RuleSet, is_excluded

# With the rules alone an incident is an offence at this confidence, and `likely` from RULES_ONLY_LIKELY.
RULES_ONLY_THRESHOLD = RULES_FLAG
RULES_ONLY_LIKELY = 0.9


def rules_model_name(rules: RuleSet) -> str:
    """The `model` field of scores from the rules alone: the rules' version."""
    return "rules-" + rules.version.split(":")[-1][:12]


class RuleScorer:
    """Scores incidents with the rules alone."""

    threshold = RULES_ONLY_THRESHOLD

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
            yield incident, self.score_docs([doc], [incident.incident_id])[0]

    def score_docs(self, docs: list[Doc], incident_ids: list[str] | None = None) -> list[dict]:
        """Scores for docs the pipeline has already read: with the rules alone, the rules decide."""
        ids = incident_ids or ["-"] * len(docs)
        records = []
        for i, doc in zip(ids, docs):
            record = score_record(i, doc, self.model_name, threshold=self.threshold)
            record["decided_by"] = "none" if record["label"] == NONE else "rules"
            records.append(record)
        return records

    @property
    def rule_scorer(self) -> RuleScorer:
        """The scorer whose pipeline reads the logs: this one (a ModelScorer has one too)."""
        return self

    def explaining_from(self, threshold: float) -> RuleScorer:
        """The same scorer: with the rules alone every flag has its cues as evidence."""
        return self


def score_record(incident_id: str, doc: Doc, model: str, probabilities: dict[str, float] | None = None, *,
                 threshold: float, decided_by: str | None = None) -> dict:
    """The contract's score for one incident: the pipeline's evidence, and the model's or the rules' probabilities.

    The label is `none` below the threshold, else the most probable offence label (the more serious on a tie),
    so an incident that would be flagged never reads `none` and one that would not never reads an offence.
    """
    raw = probabilities or doc._.probabilities
    probabilities = {label: round(raw[label], 6) for label in LABELS}
    # Rounding can leave the sum a hair off 1; the contract says they sum to 1. The residue goes on the most
    # probable offence label, not on `none`, so the confidence (which a threshold is compared with) is exact.
    top = likeliest_offence(probabilities)
    probabilities[top] = round(probabilities[top] + 1.0 - sum(probabilities.values()), 6)
    confidence = round(1.0 - probabilities[NONE], 6)
    label = top if confidence >= threshold else NONE
    record = {
        "incident_id": incident_id,
        "label": label,
        "confidence": confidence,
        "probabilities": probabilities,
        "evidence": doc._.evidence,
        "model": model,
    }
    if decided_by is not None:
        record["decided_by"] = decided_by
    return record


class ModelScorer:
    """Scores incidents with a trained model version; the rule pipeline supplies features and evidence.

    A log the model raises with no active rule cue also gets the model's top terms as evidence (kind `model`,
    classifier.scoring.model_terms): from the flag threshold, or from `model_evidence_from` where a scan flags
    below it.
    """

    def __init__(self, rules: RuleSet, folder, *, batch_size: int = 256, model_evidence_from: float | None = None):
        from classifier.model_versions import load_model

        self.rules = rules
        self.rule_scorer = RuleScorer(rules)
        self.estimator, self.manifest = load_model(folder, rules_version=rules.version)
        self.model_name = self.manifest["version"]
        self.classes = list(self.estimator.classes_)
        self.batch_size = batch_size
        marks = self.manifest["thresholds"]
        self.threshold = marks["review"]
        self.floor_confidence = marks.get("floor_confidence", 1.0)
        self.model_evidence_from = self.threshold if model_evidence_from is None else model_evidence_from

    def explaining_from(self, threshold: float) -> ModelScorer:
        """This scorer, giving the model's terms as evidence from `threshold` (a scan that flags below the
        model's own threshold), sharing its pipeline and model; this one is left as it is."""
        other = copy.copy(self)
        other.model_evidence_from = threshold
        return other

    @functools.cached_property
    def terms(self):
        """The model's terms of a log (classifier.scoring.model_terms.ModelTerms), made when first needed."""
        from classifier.scoring.model_terms import ModelTerms

        return ModelTerms(self.estimator)

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

    def model_features(self, records: list[dict]):
        """The model's features of analysis records: what its classifier reads (and model_terms explains)."""
        return self.estimator.named_steps["features"].transform(records)

    def model_proba(self, records: list[dict], features=None) -> np.ndarray:
        """The trained model's own probabilities (columns in LABELS order) for analysis records, before the floor.

        features: `model_features(records)`, if already made."""
        from classifier.evaluation.labelled import label_columns

        if features is None:
            features = self.model_features(records)
        return label_columns(self.classes, self.estimator.named_steps["classify"].predict_proba(features))

    def final_proba(self, records: list[dict], features=None) -> tuple[np.ndarray, list[str]]:
        """The probabilities a score carries (the model's, held up by the rule floor) and who decided."""
        return apply_floor(self.model_proba(records, features), rule_proba(records), [r["floor"] for r in records],
                           threshold=self.threshold, confidence=self.floor_confidence)

    def score_docs(self, docs: list[Doc], incident_ids: list[str] | None = None) -> list[dict]:
        """Scores for docs the rule pipeline has already read."""
        from classifier.scoring.analysis import analyse

        if not docs:
            return []
        records = [analyse(doc) for doc in docs]
        features = self.model_features(records)
        proba, decided = self.final_proba(records, features)
        ids = incident_ids or ["-"] * len(docs)
        scores = [
            score_record(i, doc, self.model_name, dict(zip(LABELS, map(float, row))), threshold=self.threshold,
                         decided_by=by)
            for i, doc, row, by in zip(ids, docs, proba, decided)
        ]
        # A log the model raises that no active cue supports: its evidence says which of the model's terms did.
        rows = [k for k, (score, by) in enumerate(zip(scores, decided))
                if by in ("model", "none") and score["confidence"] >= min(self.threshold, self.model_evidence_from)
                and not any(not is_excluded(e["context"]) for e in score["evidence"])]
        if rows:
            found = self.terms.evidence([docs[k] for k in rows], [records[k] for k in rows], features[rows],
                                        [likeliest_offence(scores[k]["probabilities"]) for k in rows])
            for k, items in zip(rows, found):
                scores[k]["evidence"] = [*scores[k]["evidence"], *items]
        return scores

    def model_terms(self, docs: list[Doc]) -> list[list[dict]]:
        """The model's top terms of each doc, whoever decided it (for `explain`)."""
        from classifier.scoring.analysis import analyse

        records = [analyse(doc) for doc in docs]
        proba = self.model_proba(records, features := self.model_features(records))
        labels = [likeliest_offence(dict(zip(LABELS, row))) for row in proba]
        return self.terms.evidence(docs, records, features, labels)


def likeliest_offence(probabilities: dict[str, float]) -> str:
    """The most probable offence label (the more serious on a tie): a score's label when it is flagged."""
    return max(OFFENCE_LABELS, key=lambda name: (probabilities[name], SEVERITY[name]))
