"""The library API: score texts as `classify` does, from a notebook, a benchmark or a force's own pipeline.

    from classifier.api import load_scorer, classify_texts
    for score in classify_texts(["V1 was struck by S1 with a closed fist"]):
        print(score["label"], score["confidence"], score["decided_by"])

A score is the data contract's (docs/formats.md): label, confidence, the six probabilities, the evidence,
the model and `decided_by`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from classifier.labels import NONE


def load_scorer(*, model: str | Path | None = None, rules: str | Path | None = None, rules_only: bool = False,
                models_root: str | Path | None = None):
    """A scorer with the rules (a folder, default the shipped ones) and a model version or folder (default the
    current model of the models home `models_root`, see `classifier.resources.models_home`); with
    `rules_only`, the rules alone."""
    return scorer_spec(model=model, rules=rules, rules_only=rules_only, models_root=models_root).build()


def scorer_spec(*, model: str | Path | None = None, rules: str | Path | None = None, rules_only: bool = False,
                models_root: str | Path | None = None):
    """What a process needs to build that scorer (`classifier.batch.workers.ScorerSpec`): for worker processes,
    `classifier.batch.workers.Scoring`."""
    from classifier.batch.workers import ScorerSpec
    from classifier.model_versions import resolve

    root = Path(models_root) if models_root else None
    return ScorerSpec(Path(rules) if rules else None, None if rules_only else resolve(model, root))


def classify_texts(texts: Iterable[str], *, scorer=None, model: str | Path | None = None,
                   rules: str | Path | None = None, rules_only: bool = False, models_root: str | Path | None = None,
                   batch_size: int = 256) -> Iterator[dict]:
    """A score for each text, in order (incident ids are `-`)."""
    scorer = scorer or load_scorer(model=model, rules=rules, rules_only=rules_only, models_root=models_root)
    batch = []
    for doc in scorer.rule_scorer.docs(texts):
        batch.append(doc)
        if len(batch) >= batch_size:
            yield from scorer.score_docs(batch)
            batch = []
    if batch:
        yield from scorer.score_docs(batch)


def band(score: dict, scorer) -> str | None:
    """The band `scan` would give this score at the model's own thresholds: likely, review, or None (no flag)."""
    if score["label"] == NONE:
        return None
    manifest = getattr(scorer, "manifest", None)
    if manifest is None:
        from classifier.scoring.scorers import RULES_ONLY_LIKELY

        likely = RULES_ONLY_LIKELY
    else:
        likely = manifest["thresholds"]["likely"]
    return "likely" if score["confidence"] >= likely else "review"
