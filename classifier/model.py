"""The trained model: features, a linear classifier and a calibration of the offence confidence.

The estimator is a scikit-learn Pipeline over analysis records (classifier.scoring.analysis):

    features: rules (RuleEvidenceVectorizer, at full weight) + words (marked lemmas with person and role
              words as one token, 1-2 grams); character n-grams only if asked for
    classify: ConfidenceCalibratedClassifier(LogisticRegression)

The calibration is fitted on out-of-fold predictions, so on data the classifier did not fit; given the
writer (batch) of each training log as `groups`, each fold leaves whole writers out, so the calibration is
fitted on the scores of styles the classifier had not seen, as it will meet a force's own.

What the rules found is not scaled down: a model that learnt the corpus's style must not outweigh a plain
disclosure (and classifier.scoring.floor keeps those flagged whatever the model says). Character n-grams over the
raw text learnt the corpus's writing style and are off by default.

Saved models (`models/<version>/model.joblib`, joblib pickles) name `classifier.model.ConfidenceCalibratedClassifier`
by module path: this module must stay at `classifier/model.py` and the class keep its name, or every saved model
stops loading. A pickle holds the instance's attributes, not its code: a change to its parameters or fitted
attributes (`calibrator_`, `estimator_`, `classes_`, `none_index_`, `oof_confidence_`) needs a retrain.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from classifier.features import FieldSelector, RuleEvidenceVectorizer
from classifier.labels import NONE

DEFAULT_SETTINGS = {
    "C": 16.0,
    "rules_weight": 1.0,
    "words_weight": 1.0,
    "chars_weight": 1.0,
    "word_ngrams": [1, 2],
    "char_ngrams": [2, 5],
    "min_df": 2,
    "words_field": "marked",
    "normalise_roles": True,
    "use_floor_feature": True,
    # Label-preserving rewrites trained on beside each train log (classifier.training.augment.KINDS).
    "augment": [],
    # "balanced": every style of the corpus counts the same in training (classifier.training.train.style_weights).
    "style_weighting": "balanced",
    "use_chars": False,
    "use_rules": True,
    "rule_probabilities": True,
    "calibration": "sigmoid",
    "cv": 5,
    "seed": 13,
}


class ConfidenceCalibratedClassifier(BaseEstimator, ClassifierMixin):
    """Calibrates P(any offence) = 1 - P(none) on out-of-fold predictions and rescales the rest.

    The contract's `confidence` is what a reviewer's time follows, so that is the quantity calibrated;
    the offence labels keep their relative probabilities.
    """

    def __init__(self, estimator=None, *, method: str = "isotonic", cv: int = 5, none_label: str = NONE,
                 random_state: int | None = 0):
        self.estimator = estimator
        self.method = method
        self.cv = cv
        self.none_label = none_label
        self.random_state = random_state

    def fit(self, X, y, sample_weight=None, groups=None):
        """groups: the writer (or batch) of each log; folds then leave whole writers out."""
        y = np.asarray(y)
        params = {} if sample_weight is None else {"sample_weight": np.asarray(sample_weight, dtype=float)}
        if groups is not None and len(set(groups)) >= 2:
            folds = list(GroupKFold(n_splits=min(self.cv, len(set(groups)))).split(X, y, groups))
        else:
            folds = StratifiedKFold(n_splits=self.cv, shuffle=True, random_state=self.random_state)
        out_of_fold = cross_val_predict(clone(self.estimator), X, y, cv=folds, method="predict_proba", params=params)
        classes = np.unique(y)
        none_index = int(np.flatnonzero(classes == self.none_label)[0])
        raw_any = 1.0 - out_of_fold[:, none_index]
        target = (y != self.none_label).astype(float)
        if self.method == "isotonic":
            self.calibrator_ = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(raw_any, target)
        elif self.method == "sigmoid":
            self.calibrator_ = LogisticRegression(C=1e6).fit(_logit(raw_any)[:, None], target)
        else:
            raise ValueError(f"calibration method {self.method!r} is not one of: isotonic, sigmoid")
        # The calibrated confidence of each training log from a model that did not fit it (nor, with groups, its
        # writer): what training needs to judge the rule floor against the model.
        self.oof_confidence_ = np.clip(self._calibrated_any(raw_any), 0.0, 1.0)
        self.estimator_ = clone(self.estimator).fit(X, y, **params)
        self.classes_ = self.estimator_.classes_
        self.none_index_ = int(np.flatnonzero(self.classes_ == self.none_label)[0])
        return self

    def _calibrated_any(self, raw_any):
        if self.method == "isotonic":
            return self.calibrator_.predict(raw_any)
        return self.calibrator_.predict_proba(_logit(raw_any)[:, None])[:, 1]

    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        proba = self.estimator_.predict_proba(X)
        raw_any = 1.0 - proba[:, self.none_index_]
        calibrated = np.clip(self._calibrated_any(raw_any), 0.0, 1.0)
        offence = np.delete(np.arange(proba.shape[1]), self.none_index_)
        out = np.empty_like(proba)
        share = proba[:, offence] / np.where(raw_any > 0, raw_any, 1.0)[:, None]
        share[raw_any <= 0] = 1.0 / len(offence)
        out[:, offence] = share * calibrated[:, None]
        out[:, self.none_index_] = 1.0 - calibrated
        return out

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _logit(p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def manifest_settings(manifest: dict) -> dict:
    """The settings a saved model was trained with. Settings added since it was saved are read as off, which is
    how it was trained (e.g. `style_weighting`), not as today's defaults."""
    return {"augment": [], "style_weighting": "none", **manifest.get("settings", {})}


def build_estimator(settings: dict | None = None) -> Pipeline:
    s = {**DEFAULT_SETTINGS, **(settings or {})}
    parts = [
            ("rules", RuleEvidenceVectorizer(use_rule_probabilities=s["rule_probabilities"],
                                             use_floor=s["use_floor_feature"])),
            ("words", Pipeline([
                ("select", FieldSelector(s["words_field"], normalise_roles=s["normalise_roles"])),
                ("tfidf", TfidfVectorizer(ngram_range=tuple(s["word_ngrams"]), min_df=s["min_df"], sublinear_tf=True,
                                          token_pattern=r"(?u)\b\w[\w'/&.-]*\b")),
            ])),
            ("chars", Pipeline([
                ("select", FieldSelector("text")),
                ("tfidf", TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(s["char_ngrams"]), min_df=s["min_df"],
                                          sublinear_tf=True, lowercase=True, max_features=200_000)),
            ])),
    ]
    parts = [(name, part) for name, part in parts
             if (name != "chars" or s["use_chars"]) and (name != "rules" or s["use_rules"])]
    weights = {"rules": s["rules_weight"], "words": s["words_weight"], "chars": s["chars_weight"]}
    features = FeatureUnion(parts, transformer_weights={name: weights[name] for name, _ in parts})
    classifier = LogisticRegression(C=s["C"], max_iter=5000, class_weight="balanced")
    return Pipeline([
        ("features", features),
        ("classify", ConfidenceCalibratedClassifier(classifier, method=s["calibration"], cv=s["cv"],
                                                    random_state=s["seed"])),
    ])


def build_word_baseline(settings: dict | None = None) -> Pipeline:
    """Word n-grams of the raw text and a linear model: what a text classifier alone achieves."""
    s = {**DEFAULT_SETTINGS, **(settings or {})}
    return Pipeline([
        ("select", FieldSelector("text")),
        ("tfidf", TfidfVectorizer(ngram_range=tuple(s["word_ngrams"]), min_df=s["min_df"], sublinear_tf=True)),
        ("classify", LogisticRegression(C=s["C"], max_iter=5000, class_weight="balanced")),
    ])


def offence_weights(estimator: Pipeline, words) -> dict[str, float | None]:
    """How far each word (a unigram of the word features) pulls a log toward an offence, in log-odds.

    For a word with weights w_c per label, it is log(mean over the offence labels of exp(w_c)) - w_none: the
    change in the log-odds of "any offence" against `none` that one unit of the word adds, from a log whose
    labels were equally likely. Positive means the word counts toward an offence; None: not in the vocabulary.
    """
    names = list(estimator.named_steps["features"].get_feature_names_out())
    index = {name: i for i, name in enumerate(names)}
    linear = estimator.named_steps["classify"].estimator_
    classes = list(linear.classes_)
    none = classes.index(NONE)
    out = {}
    for word in words:
        column = index.get(f"words__{word}")
        if column is None:
            out[word] = None
            continue
        if linear.coef_.shape[0] == 1:  # two labels: one row of weights, toward classes_[1]
            out[word] = float(linear.coef_[0, column]) * (1.0 if none == 0 else -1.0)
            continue
        weights = linear.coef_[:, column]
        offences = np.delete(weights, none)
        out[word] = float(np.log(np.mean(np.exp(offences))) - weights[none])
    return out

