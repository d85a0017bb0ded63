"""Feature transformers for the trained model, following scikit-learn's estimator conventions."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction import DictVectorizer
from sklearn.utils.validation import check_is_fitted

from classifier.labels import LABELS


class FieldSelector(BaseEstimator, TransformerMixin):
    """Pick one field of each analysis record (e.g. the marked words) for a text vectorizer."""

    def __init__(self, field: str = "marked"):
        self.field = field

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return [record[self.field] for record in X]


class RuleEvidenceVectorizer(BaseEstimator, TransformerMixin):
    """Counts of rule cues by label, kind and context state, by rule, and the rule scorer's probabilities.

    A cue under negation is a different feature from the same cue active, so the model can learn how far
    to trust each context rule rather than only obeying it.
    """

    def __init__(self, use_rule_ids: bool = True, use_rule_probabilities: bool = True):
        self.use_rule_ids = use_rule_ids
        self.use_rule_probabilities = use_rule_probabilities

    def _features(self, record) -> dict:
        features: dict[str, float] = {}
        for cue in record["cues"]:
            keys = [f"{cue['label']}|{cue['kind']}|{cue['state']}"]
            if self.use_rule_ids:
                keys.append(f"rule={cue['rule']}|{cue['state']}")
            keys.extend(f"{cue['label']}|{d}" for d in cue["described"])
            for key in keys:
                features[key] = features.get(key, 0.0) + 1.0
        features = {k: float(np.log1p(v)) for k, v in features.items()}
        if self.use_rule_probabilities:
            for label in LABELS:
                features[f"rule_p={label}"] = record["rule_probabilities"][label]
        return features

    def fit(self, X, y=None):
        self.vectorizer_ = DictVectorizer()
        self.vectorizer_.fit(self._features(r) for r in X)
        return self

    def transform(self, X):
        check_is_fitted(self, "vectorizer_")
        return self.vectorizer_.transform(self._features(r) for r in X)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "vectorizer_")
        return self.vectorizer_.get_feature_names_out()
