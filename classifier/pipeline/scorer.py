"""Turn the cues and their context into the contract's six probabilities and evidence (rule-based).

Each label's strength is a noisy-or of the weights of its cues that no excluding context touches. An
injury cue turns violence into violence with injury; on its own (no act of violence disclosed) it counts
for less, since injuries also come from falls and accidents. The mass left after `none` goes to the
labels by strength, more serious labels first, as an incident takes the most serious label it discloses.

It also names the labels of the floor: offence cues (not injuries, which falls and accidents also cause) of
weight at least `floor_weight` that no excluding context touches. A trained model may rank these, never
argue them away (classifier.scoring.floor).
"""

from __future__ import annotations

from spacy.language import Language
from spacy.tokens import Doc

from classifier.labels import LABELS, NONE, OFFENCE_LABELS, SEVERITY
from classifier.pipeline.extensions import CUES_KEY
from classifier.pipeline.tokenizer import source_span
from classifier.pipeline.ruleset import CONTEXT_CATEGORIES, is_excluded


def noisy_or(weights) -> float:
    remaining = 1.0
    for w in weights:
        remaining *= 1.0 - w
    return 1.0 - remaining


@Language.factory(
    "incident_scorer",
    default_config={"cues_key": CUES_KEY, "injury_alone": 0.45, "severity_base": 3.0, "floor": 0.002,
                    "floor_weight": 0.8},
    assigns=["doc._.probabilities", "doc._.label", "doc._.evidence", "doc._.floor"],
    # token._.entry: each piece of evidence names the entry its cue starts in.
    requires=["doc._.cue_rules", "doc._.cue_triggers", "token._.entry"],
)
def make_incident_scorer(nlp: Language, name: str, *, cues_key: str, injury_alone: float, severity_base: float,
                         floor: float, floor_weight: float):
    return IncidentScorer(name, cues_key=cues_key, injury_alone=injury_alone, severity_base=severity_base, floor=floor,
                          floor_weight=floor_weight)


class IncidentScorer:
    def __init__(self, name: str, *, cues_key: str, injury_alone: float, severity_base: float, floor: float,
                 floor_weight: float = 0.8):
        self.name = name
        self.cues_key = cues_key
        self.injury_alone = injury_alone
        self.severity_base = severity_base
        # `floor` is the least probability any label gets; `floor_weight` the least weight of a floor cue.
        self.floor = floor
        self.floor_weight = floor_weight

    def __call__(self, doc: Doc) -> Doc:
        cues = doc.spans[self.cues_key] if self.cues_key in doc.spans else []
        offence = {label: [] for label in OFFENCE_LABELS}
        injuries = []
        evidence = []
        floor_labels = set()
        cue_rules = doc._.cue_rules or {}
        for cue, triggers in zip(cues, doc._.cue_triggers or [[] for _ in cues]):
            kind, weight = cue_rules[cue.id_]
            found = {t["category"] for t in triggers}
            context = [c for c in CONTEXT_CATEGORIES if c in found]
            start, end, text = source_span(doc, cue.start_char, cue.end_char)
            excluded = is_excluded(context)
            holds_floor = not excluded and kind == "offence" and weight >= self.floor_weight
            evidence.append({
                "rule": cue.id_, "label": cue.label_, "text": text,
                "start": start, "end": end, "context": context,
                "triggers": triggers, "kind": kind, "entry": cue[0]._.entry,
                "floor": holds_floor,
            })
            if excluded:
                continue
            if holds_floor:
                floor_labels.add(cue.label_)
            (injuries if kind == "injury" else offence[cue.label_]).append(weight)
        strength = {label: noisy_or(ws) for label, ws in offence.items()}
        if injuries:
            injury = noisy_or(injuries)
            act = max(strength["violence_without_injury"], strength["violence_with_injury"])
            factor = act if act > 0 else self.injury_alone
            strength["violence_with_injury"] = noisy_or([strength["violence_with_injury"], injury * factor])
        doc._.probabilities = self.probabilities(strength)
        doc._.label = max(LABELS, key=lambda label: (doc._.probabilities[label], SEVERITY[label]))
        doc._.evidence = evidence
        doc._.floor = sorted(floor_labels, key=SEVERITY.__getitem__, reverse=True)
        return doc

    def probabilities(self, strength: dict[str, float]) -> dict[str, float]:
        p_none = 1.0
        for s in strength.values():
            p_none *= 1.0 - s
        shares = {label: s * self.severity_base ** SEVERITY[label] for label, s in strength.items()}
        total = sum(shares.values())
        probs = {label: (1.0 - p_none) * share / total if total else 0.0 for label, share in shares.items()}
        probs[NONE] = p_none
        k = len(LABELS)
        return {label: (1.0 - k * self.floor) * probs[label] + self.floor for label in LABELS}

