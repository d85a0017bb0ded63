"""Feature transformers for the trained model, following scikit-learn's estimator conventions.

Saved models (`models/<version>/model.joblib`, joblib pickles) name `classifier.features.FieldSelector`,
`classifier.features.RuleEvidenceVectorizer` and `classifier.features.BrokenNgramVectorizer` by module path: this
module must stay at `classifier/features.py` and these classes keep their names, or every saved model stops
loading. A pickle holds their attributes (`field`, `normalise_roles`; `use_rule_ids`, `use_rule_probabilities`,
`use_floor`, `monotone` and the fitted `vectorizer_`; a TfidfVectorizer's own), not their code: a change to those
attributes, or to the features the code makes from a record, needs a retrain.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction import DictVectorizer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from classifier.labels import LABELS, NONE


# Who did what to whom is written as "he ... her", "the suspect ... the victim", "S1 ... V1" or "male subject ...
# an acquaintance" by different writers and forces. These words say how a log is written, not whether it
# discloses an offence, so the word n-grams see one token for all of them (a negated or hypothetical mark is
# kept: "neg_victim" stays apart from "victim"). Determiners go for the same reason: "the victim" is "her"; and
# a run of such words ("male subject") is one person.
PERSON = "someone"
PERSON_WORDS = frozenset("""
    he she him her his hers himself herself they them their theirs themselves
    victim victims vic vics v v1 v2 v3 ip ips ap rp caller complainant complainants injured party reporting
    suspect suspects susp sus s s1 s2 s3 subject subjects offender offenders perpetrator perp accused aggressor
    male males female females man men woman women person persons people individual individuals
    acquaintance stranger unknown party w1 w2 witness someone somebody
""".split())
DROPPED_WORDS = frozenset({"the", "a", "an"})


class FieldSelector(BaseEstimator, TransformerMixin):
    """Pick one field of each analysis record (e.g. the marked words) for a text vectorizer.

    With `normalise_roles`, person and role words (pronouns, victim/suspect/IP/RP/V1/S1, male/female, ...)
    become one token and determiners are dropped, so the words describe what happened, not who wrote it.
    """

    def __init__(self, field: str = "marked", normalise_roles: bool = False):
        self.field = field
        self.normalise_roles = normalise_roles

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        if not self.normalise_roles:
            return [record[self.field] for record in X]
        return [_normalise_roles(record[self.field]) for record in X]

    def get_feature_names_out(self, input_features=None):
        return np.array([self.field], dtype=object)


def _normalise_roles(text: str) -> str:
    return " ".join(word for word, _, _ in normalised_words(text.split()))


def normalised_words(words: list[str]) -> list[tuple[str, int, int]]:
    """The words with person and role words as one token and determiners dropped (`FieldSelector` with
    `normalise_roles`), each with the index in `words` of the first and the last word it stands for."""
    out: list[tuple[str, int, int]] = []
    for i, word in enumerate(words):
        prefix, bare = (word[:4], word[4:]) if word.startswith(("neg_", "hyp_")) else ("", word)
        bare = bare.lower()
        if bare in DROPPED_WORDS:
            continue
        if bare in PERSON_WORDS:
            word = prefix + PERSON
            if out and out[-1][0] == word:
                out[-1] = (word, out[-1][1], i)
                continue  # "male subject", "the victim's partner": one person, one token
        out.append((word, i, i))
    return out


class RuleEvidenceVectorizer(BaseEstimator, TransformerMixin):
    """Counts of rule cues by label, kind and context state, by rule, and the rule scorer's probabilities.

    A cue under negation is a different feature from the same cue active, so the model can learn how far
    to trust each context rule rather than only obeying it.

    `monotone`: feature names (an active cue, the rules' probability of an offence, the floor) put last, in
    this order, whether or not a training log has them, so that the classifier can hold their weights to
    pulling toward an offence only (classifier.model). The other features come first, as DictVectorizer
    orders them.
    """

    # A model saved before `monotone` existed has none: its pickle lacks the attribute, and this default stands
    # in (for transform, get_params and clone alike).
    monotone: tuple = ()

    def __init__(self, use_rule_ids: bool = True, use_rule_probabilities: bool = True, use_floor: bool = True,
                 monotone: tuple = ()):
        self.use_rule_ids = use_rule_ids
        self.use_rule_probabilities = use_rule_probabilities
        self.use_floor = use_floor
        self.monotone = monotone

    def cue_keys(self, cue: dict) -> list[str]:
        """The features one cue of an analysis record counts towards."""
        keys = [_label_key(cue["label"], cue["kind"], cue["state"])]
        if self.use_rule_ids:
            keys.append(_rule_key(cue["rule"], cue["state"]))
        keys.extend(f"{cue['label']}|{d}" for d in cue["described"])
        return keys

    def active_offence_features(self, cue_kinds: dict[str, str], kinds) -> tuple[str, ...]:
        """The features that say an offence cue of one of `kinds` is active (each offence label's count of
        them, each such rule's; cue_kinds: each cue rule's kind by id), with the rules' probability of each
        offence label and the floor: what `monotone` holds with the model setting `monotone_rules`."""
        offences = [label for label in LABELS if label != NONE]
        names = [_label_key(label, kind, "active") for kind in kinds for label in offences]
        if self.use_rule_ids:
            names += [_rule_key(rule, "active") for rule, kind in sorted(cue_kinds.items()) if kind in kinds]
        if self.use_rule_probabilities:
            names += [_probability_key(label) for label in offences]
        if self.use_floor:
            names += [_FLOOR, *(_floor_key(label) for label in offences)]
        return tuple(names)

    def _features(self, record) -> dict:
        features: dict[str, float] = {}
        for cue in record["cues"]:
            for key in self.cue_keys(cue):
                features[key] = features.get(key, 0.0) + 1.0
        features = {k: float(np.log1p(v)) for k, v in features.items()}
        if self.use_rule_probabilities:
            for label in LABELS:
                features[_probability_key(label)] = record["rule_probabilities"][label]
        if self.use_floor:
            for label in record.get("floor", ()):
                features[_floor_key(label)] = 1.0
            features[_FLOOR] = 1.0 if record.get("floor") else 0.0
        return features

    def fit(self, X, y=None):
        monotone = set(self.monotone)
        self.vectorizer_ = DictVectorizer()
        self.vectorizer_.fit({k: v for k, v in self._features(r).items() if k not in monotone} for r in X)
        return self

    def transform(self, X):
        check_is_fitted(self, "vectorizer_")
        monotone = tuple(self.monotone)
        if not monotone:
            return self.vectorizer_.transform(self._features(r) for r in X)
        rows = [self._features(r) for r in X]
        # The fitted vectorizer leaves out the monotone features; these come last, in `monotone`'s order.
        free = self.vectorizer_.transform(rows)
        fixed = DictVectorizer(sort=False).fit([dict.fromkeys(monotone, 1.0)]).transform(rows)
        return sp.hstack([free, fixed], format="csr", dtype=float)

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "vectorizer_")
        names = self.vectorizer_.get_feature_names_out()
        monotone = tuple(self.monotone)
        return np.concatenate([names, np.asarray(monotone, dtype=object)]) if monotone else names


# The names of the rule features, made in one place: the model's bounded columns are named from them too.
_FLOOR = "floor"


def _label_key(label: str, kind: str, state: str) -> str:
    return f"{label}|{kind}|{state}"


def _rule_key(rule: str, state: str) -> str:
    return f"rule={rule}|{state}"


def _probability_key(label: str) -> str:
    return f"rule_p={label}"


def _floor_key(label: str) -> str:
    return f"floor={label}"


class BrokenNgramVectorizer(TfidfVectorizer):
    """A TfidfVectorizer whose stop words break the word n-grams instead of being skipped over.

    scikit-learn drops stop words and then joins what is left, so with "punch" a stop word "someone punch
    someone" gives the bigram "someone someone": a second, unbounded copy of the word the model holds apart
    (classifier.model, the offence words). Here no n-gram runs across a stop word.
    """

    def _word_ngrams(self, tokens, stop_words=None):
        if stop_words is None:
            return super()._word_ngrams(tokens)
        out: list[str] = []
        run: list[str] = []
        for token in [*tokens, None]:
            if token is None or token in stop_words:
                if run:
                    out.extend(super()._word_ngrams(run))
                run = []
            else:
                run.append(token)
        return out
