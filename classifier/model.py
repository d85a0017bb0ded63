"""The trained model: features, a linear classifier and a calibration of the offence confidence.

The estimator is a scikit-learn Pipeline over analysis records (classifier.scoring.analysis):

    features: rules (RuleEvidenceVectorizer, at full weight) + words (marked lemmas with person and role
              words as one token, 1-2 grams); character n-grams only if asked for; + offence words (the
              lemmas of rules/offence_words.jsonl, unmarked, one column each, last)
    classify: ConfidenceCalibratedClassifier(OffenceWordsLogisticRegression)

An offence word ("choke", "punch", "injury") may only pull a log toward an offence. Unconstrained, it learnt its
weight from what the rule features left over: the `none` logs where a rule fired wrongly, so a plain "he punched
her" counted against an offence. Where such a word stands in a context that excludes it, the context rules mark
it ("neg_punch", "oth_choke") and the marked word is a feature of the word block, free to pull either way. The
word block leaves the offence words out and no n-gram runs across one, so no second copy of "punch" can undo the
first (docs/decisions/0006).

The calibration is fitted on out-of-fold predictions, so on data the classifier did not fit; given the
writer (batch) of each training log as `groups`, each fold leaves whole writers out, so the calibration is
fitted on the scores of writers the classifier had not seen, as it will meet a force's own (the setting
`calibration_folds` can make the groups styles instead).

What the rules found is not scaled down: a model that learnt the corpus's style must not outweigh a plain
disclosure (and classifier.scoring.floor keeps those flagged whatever the model says). Character n-grams over the
raw text learnt the corpus's writing style and are off by default.

Saved models (`models/<version>/model.joblib`, joblib pickles) name `classifier.model.ConfidenceCalibratedClassifier`
by module path: this module must stay at `classifier/model.py` and the class keep its name, or every saved model
stops loading. A pickle holds the instance's attributes, not its code: a change to its parameters or fitted
attributes (`calibrator_`, `estimator_`, `classes_`, `none_index_`, `oof_confidence_`) needs a retrain.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.optimize import Bounds, minimize
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, StratifiedKFold, cross_val_predict
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import check_array, check_is_fitted, check_X_y

from classifier.features import BrokenNgramVectorizer, FieldSelector, RuleEvidenceVectorizer
from classifier.labels import NONE
from classifier.pipeline.ruleset import CUE_KINDS

DEFAULT_SETTINGS = {
    "C": 128.0,
    "rules_weight": 1.0,
    "words_weight": 1.0,
    "chars_weight": 1.0,
    "word_ngrams": [1, 2],
    "char_ngrams": [2, 5],
    "min_df": 16,
    "words_field": "marked",
    "normalise_roles": True,
    "use_floor_feature": True,
    # The offence words of the rules (rules/offence_words.jsonl) only pull toward an offence.
    "offence_words": True,
    # The rule features that say an offence cue is active (its rule, its label, the rules' probability of an
    # offence, the floor) only pull toward an offence, for cues of these kinds (rules/offences.jsonl `kind`).
    "monotone_rules": ["offence", "injury"],
    # Label-preserving rewrites trained on beside each train log (classifier.training.augment.KINDS).
    "augment": [],
    # "balanced": every style of the corpus counts the same in training (classifier.training.train.style_weights).
    "style_weighting": "balanced",
    "use_chars": False,
    "use_rules": True,
    "rule_probabilities": True,
    "calibration": "sigmoid",
    # What the calibration's folds leave out whole: "writer" (a corpus batch) or "style". By style, the
    # calibration learns how far the classifier's scores can be trusted on a style it has not fitted.
    "calibration_folds": "writer",
    "cv": 10,
    "seed": 13,
}


OFFENCE_WORDS = "offence_words"


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
        """groups: the writer (or batch, or style) of each log; folds then leave whole groups out."""
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


class OffenceWordsLogisticRegression(BaseEstimator, ClassifierMixin):
    """Multinomial logistic regression (L2, as scikit-learn's `LogisticRegression` with lbfgs) whose last
    `n_offence_words` columns may only pull toward an offence. `build_estimator` puts the offence words there and,
    with the setting `monotone_rules`, just before them the rule features of an active offence cue, the rules'
    probability of each offence label and the floor, and counts them all in `n_offence_words` (the name is the
    one saved models carry).

    For those columns the `none` label's weight is held at 0 and every offence label's weight at 0 or above, so
    the column's offence-vs-none weight (`offence_weights`) is never negative. With `n_offence_words=0` and three
    or more labels it fits what `LogisticRegression(C=C, class_weight=class_weight)` fits (with two, scikit-learn
    fits one row of weights, and its fit at 2C is this one at C). Fitted with SciPy's L-BFGS-B under those bounds;
    the objective is scikit-learn's: the weighted mean log-loss + ||W||^2 / (2 C sum of weights).
    """

    def __init__(self, *, C: float = 1.0, class_weight=None, n_offence_words: int = 0, none_label: str = NONE,
                 max_iter: int = 5000, tol: float = 1e-4):
        self.C = C
        self.class_weight = class_weight
        self.n_offence_words = n_offence_words
        self.none_label = none_label
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, X, y, sample_weight=None):
        X, y = check_X_y(X, y, accept_sparse="csr", dtype=np.float64)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        n, d = X.shape
        k = len(self.classes_)
        if k < 2:
            raise ValueError(f"needs at least two labels to fit; got only {self.classes_[0]!r}")
        if sample_weight is not None and len(sample_weight) != n:
            raise ValueError(f"sample_weight has {len(sample_weight)} values for {n} rows")
        if not 0 <= self.n_offence_words <= d:
            raise ValueError(f"n_offence_words={self.n_offence_words} must be between 0 and {d}, the columns of X")
        weights = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float).copy()
        if self.class_weight is not None:
            weights *= compute_class_weight(self.class_weight, classes=self.classes_, y=y,
                                            sample_weight=sample_weight)[y_index]
        # scikit-learn's C * sum(weighted losses) + ||W||^2 / 2, divided by C * sum(weights): the same minimum.
        l2 = 1.0 / (self.C * weights.sum())
        weights /= weights.sum()
        onehot = np.zeros((n, k))
        onehot[np.arange(n), y_index] = 1.0

        def objective(params):
            w, b = params[:k * d].reshape(k, d), params[k * d:]
            z = X @ w.T + b
            norm = logsumexp(z, axis=1)
            loss = float(np.dot(weights, norm - z[np.arange(n), y_index])) + 0.5 * l2 * float(np.sum(w * w))
            residual = (np.exp(z - norm[:, None]) - onehot) * weights[:, None]
            grad_w = np.asarray((X.T @ residual).T) + l2 * w
            return loss, np.concatenate([grad_w.ravel(), residual.sum(axis=0)])

        lower = np.full((k, d), -np.inf)
        upper = np.full((k, d), np.inf)
        if self.n_offence_words:
            words = slice(d - self.n_offence_words, d)
            lower[:, words] = 0.0
            none = np.flatnonzero(self.classes_ == self.none_label)
            if none.size:
                upper[none[0], words] = 0.0
        bounds = Bounds(np.concatenate([lower.ravel(), np.full(k, -np.inf)]),
                        np.concatenate([upper.ravel(), np.full(k, np.inf)]))
        result = minimize(objective, np.zeros(k * d + k), jac=True, method="L-BFGS-B", bounds=bounds,
                          options={"maxiter": self.max_iter, "maxls": 50, "gtol": self.tol,
                                   "ftol": 64 * np.finfo(float).eps})
        if not result.success:
            warnings.warn(f"L-BFGS-B did not converge in {result.nit} iterations: {result.message}", ConvergenceWarning)
        self.coef_ = result.x[:k * d].reshape(k, d)
        self.intercept_ = result.x[k * d:]
        self.n_iter_ = np.array([result.nit])
        self.n_features_in_ = d
        return self

    def decision_function(self, X):
        check_is_fitted(self, "coef_")
        X = check_array(X, accept_sparse="csr", dtype=np.float64)
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def predict_proba(self, X):
        z = self.decision_function(X)
        return np.exp(z - logsumexp(z, axis=1)[:, None])

    def predict(self, X):
        return self.classes_[np.argmax(self.decision_function(X), axis=1)]


def _logit(p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def manifest_settings(manifest: dict) -> dict:
    """The settings a saved model was trained with. Settings added since it was saved are read as off, which is
    how it was trained (e.g. `style_weighting`), not as today's defaults."""
    return {"augment": [], "style_weighting": "none", "offence_words": False, "monotone_rules": [],
            "calibration_folds": "writer", **manifest.get("settings", {})}


CALIBRATION_FOLDS = ("writer", "style")


def calibration_groups(writers, styles, settings: dict) -> list[str]:
    """The group of each corpus log that the calibration's folds keep together (settings["calibration_folds"])."""
    by = {**DEFAULT_SETTINGS, **settings}["calibration_folds"]
    if by not in CALIBRATION_FOLDS:
        raise ValueError(f"calibration_folds: {by!r} is not one of: {', '.join(CALIBRATION_FOLDS)}")
    return [str(g) for g in (writers if by == "writer" else styles)]


def build_estimator(settings: dict | None = None, *, offence_words=None, cue_kinds=None) -> Pipeline:
    """The model's estimator. offence_words: the lemmas that may only pull toward an offence (with the setting
    `offence_words` on); cue_kinds: each cue rule's kind by id (`RuleSet.cue_kinds`), for the setting
    `monotone_rules` [default for both: those of the shipped rules]."""
    s = {**DEFAULT_SETTINGS, **(settings or {})}
    unknown = set(s["monotone_rules"]) - set(CUE_KINDS)
    if unknown:
        raise ValueError(f"monotone_rules: {', '.join(sorted(unknown))} is not a cue kind ({', '.join(CUE_KINDS)})")
    monotone_on = bool(s["monotone_rules"]) and s["use_rules"]
    if (s["offence_words"] and offence_words is None) or (monotone_on and cue_kinds is None):
        from classifier.pipeline.ruleset import load_rules

        shipped = load_rules()
        offence_words = shipped.offence_lemmas if offence_words is None else offence_words
        cue_kinds = shipped.cue_kinds if cue_kinds is None else cue_kinds
    words = tuple(dict.fromkeys(offence_words)) if s["offence_words"] else ()
    vectorizer = RuleEvidenceVectorizer(use_rule_probabilities=s["rule_probabilities"],
                                        use_floor=s["use_floor_feature"])
    if monotone_on:
        vectorizer.set_params(monotone=vectorizer.active_offence_features(cue_kinds, s["monotone_rules"]))
    monotone = vectorizer.monotone
    rules = ("rules", vectorizer)
    token_pattern = r"(?u)\b\w[\w'/&.-]*\b"
    parts = [
            rules,
            ("words", Pipeline([
                ("select", FieldSelector(s["words_field"], normalise_roles=s["normalise_roles"])),
                ("tfidf", BrokenNgramVectorizer(ngram_range=tuple(s["word_ngrams"]), min_df=s["min_df"],
                                                sublinear_tf=True, token_pattern=token_pattern,
                                                stop_words=list(words) or None)),
            ])),
            ("chars", Pipeline([
                ("select", FieldSelector("text")),
                ("tfidf", TfidfVectorizer(analyzer="char_wb", ngram_range=tuple(s["char_ngrams"]), min_df=s["min_df"],
                                          sublinear_tf=True, lowercase=True, max_features=200_000)),
            ])),
            # Last: the classifier bounds the union's last columns: the rules' monotone ones, then the words.
            (OFFENCE_WORDS, Pipeline([
                ("select", FieldSelector(s["words_field"], normalise_roles=s["normalise_roles"])),
                ("tfidf", TfidfVectorizer(vocabulary=list(words) or None, sublinear_tf=True,
                                          token_pattern=token_pattern)),
            ])),
    ]
    parts = [(name, part) for name, part in parts
             if (name != "chars" or s["use_chars"]) and (name != "rules" or s["use_rules"])
             and (name != OFFENCE_WORDS or words)]
    if monotone:
        # The rules' monotone columns close their block: just before the offence words, among the bounded.
        parts = [part for part in parts if part[0] != "rules"]
        parts.insert(len(parts) - (1 if words else 0), rules)
    weights = {"rules": s["rules_weight"], "words": s["words_weight"], "chars": s["chars_weight"],
               OFFENCE_WORDS: s["words_weight"]}
    features = FeatureUnion(parts, transformer_weights={name: weights[name] for name, _ in parts})
    classifier = OffenceWordsLogisticRegression(C=s["C"], class_weight="balanced",
                                                n_offence_words=len(words) + len(monotone))
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
    """How far each word (an offence word, or else a unigram of the word features) pulls a log toward an offence,
    in log-odds.

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
        column = index.get(f"{OFFENCE_WORDS}__{word}", index.get(f"words__{word}"))
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

