"""Why the model raised a log that no rule cue supports: the terms that pulled it furthest, found in the text.

A flag the model decides (`decided_by` "model") with no active rule cue would carry no evidence that counts, and a
reviewer could not tell why it was raised. Its evidence then also lists the model's top contributing terms, as
items of kind `model` (docs/formats.md), each at its words in the log.

The classifier is linear over the features (classifier.model), so a log's log-odds of any offence against `none`,
log(sum over the offence labels of exp(z_c)) - z_none, moves with each feature j at the rate

    pull_j = sum over the offence labels c of q_c * w_cj  -  w_none,j

where w are the classifier's weights and q_c this log's own share of offence label c: the offence-vs-none weight
of `classifier.model.offence_weights`, with the offence labels mixed as this log mixes them rather than equally.
A term's contribution is its value in the log times its pull, counted beyond a typical log: a term found in most
logs (a person word, "say") moves every log alike and explains none, so the contribution is scaled by the share
of training logs without the term (1 - exp(1 - idf), from the fitted word vectorizer). Then

    weight_j = x_j * pull_j * (1 - share of training logs with term j)

in log-odds before calibration (the calibration is increasing, so what raises one raises the other).

The terms are the word n-grams of the record's `marked` text, its offence words (a block of their own, where the
n-grams break) and the counts of the rule cues by state (a negated cue the model counts toward an offence is a
reason too). A word n-gram is found in the text through the doc tokens it was made from (`analysis.marked_words`,
`features.normalised_words`): `neg_hit`, `oth_choke` or `someone` are the words "hit", "choke" or "the victim" at
their offsets. A cue count is found at its cue. What is not words of the log (the rules' own probabilities, the
floor) is not listed, so every item has offsets.

Computed only for the logs that need it, on the feature rows the scorer has already made. The review views import
only `is_model_item` and `describe` from here, so scikit-learn and SciPy are imported when terms are computed.
"""

from __future__ import annotations

import numpy as np
from spacy.tokens import Doc

from classifier.labels import NONE
from classifier.pipeline.tokenizer import source_span
from classifier.scoring.analysis import marked_words

TOP_TERMS = 5
MODEL_KIND = "model"
MODEL_RULE = "model"
WORDS = "words"
RULES = "rules"
OFFENCE_WORDS = "offence_words"  # classifier.model.OFFENCE_WORDS, not imported: that would load scikit-learn
# Rule features that are not a cue of the log: the rules' own probabilities and the floor.
_NOT_CUES = ("rule_p=", "floor")


class ModelTerms:
    """The top contributing terms of a fitted estimator (`classifier.model.build_estimator`) for given logs."""

    def __init__(self, estimator, *, top: int = TOP_TERMS):
        self.top = top
        union = estimator.named_steps["features"]
        self.linear = estimator.named_steps["classify"].estimator_
        self.names = np.asarray(union.get_feature_names_out(), dtype=object)
        parts = dict(union.transformer_list)
        coef = np.asarray(self.linear.coef_, dtype=float)
        classes = list(self.linear.classes_)
        none = classes.index(NONE)
        if coef.shape[0] == 1:  # two labels: one row of weights, toward classes_[1]
            self._fixed_pull = coef[0] * (1.0 if none == 0 else -1.0)
        else:
            self._fixed_pull = None
            self._none = none
            self._offence_coef = np.delete(coef, none, axis=0)
            self._none_coef = coef[none]
        # scale: 0 for what cannot be found in the text, else the share of training logs without the term.
        self.scale = np.zeros(len(self.names))
        self.rules = parts.get(RULES)
        if self.rules is not None:
            for j in np.flatnonzero(_prefixed(self.names, RULES)):
                if not self.names[j][len(RULES) + 2:].startswith(_NOT_CUES):
                    self.scale[j] = 1.0
        self.words = None
        self._word_parts = tuple(part for part in (WORDS, OFFENCE_WORDS)
                                 if part in parts and parts[part].named_steps["select"].field == "marked")
        for part in self._word_parts:
            columns = np.flatnonzero(_prefixed(self.names, part))
            vectorizer = parts[part].named_steps["tfidf"]
            idf = getattr(vectorizer, "idf_", None)
            share = np.exp(1.0 - idf) if idf is not None and len(idf) == len(columns) else np.zeros(len(columns))
            self.scale[columns] = np.clip(1.0 - share, 0.0, 1.0)
        if self._word_parts:
            step = parts[self._word_parts[0]]  # the word n-grams when the model has them
            vectorizer = step.named_steps["tfidf"]
            self.words = vectorizer
            self._normalise = step.named_steps["select"].normalise_roles
            self._preprocess = vectorizer.build_preprocessor()
            self._tokenize = vectorizer.build_tokenizer()
            # The word n-grams leave the offence words out and break at them (classifier.model).
            left_out = vectorizer.get_stop_words() if self._word_parts[0] == WORDS else None
            self._left_out = frozenset(left_out or ())

    def weights(self, features):
        """Each term's contribution (log-odds toward an offence) in each row of `features` (the union's output),
        as a SciPy CSR matrix."""
        import scipy.sparse as sp

        features = sp.csr_matrix(features, dtype=float)
        rows = np.repeat(np.arange(features.shape[0]), np.diff(features.indptr))
        columns = features.indices
        # The pull of each stored value's column in its row: only where a log has the feature.
        if self._fixed_pull is not None:
            pull = self._fixed_pull[columns]
        else:
            proba = self.linear.predict_proba(features)
            shares = np.delete(proba, self._none, axis=1)
            total = shares.sum(axis=1, keepdims=True)
            shares = np.divide(shares, total, out=np.full_like(shares, 1.0 / shares.shape[1]), where=total > 0)
            pull = np.einsum("ij,ji->i", shares[rows], self._offence_coef[:, columns]) - self._none_coef[columns]
        return sp.csr_matrix((features.data * pull * self.scale[columns], columns, features.indptr),
                             shape=features.shape)

    def evidence(self, docs: list[Doc], records: list[dict], features, labels: list[str]) -> list[list[dict]]:
        """For each doc (its analysis record, its row of features and the label to explain): the evidence items
        of kind `model`, at most `top`, the heaviest first, every weight positive."""
        if not docs:
            return []
        contributions = self.weights(features)
        out = []
        for k, (doc, record, label) in enumerate(zip(docs, records, labels, strict=True)):
            row = slice(contributions.indptr[k], contributions.indptr[k + 1])
            data, columns = contributions.data[row], contributions.indices[row]
            items: list[dict] = []
            words = cues = None
            for n in np.argsort(-data, kind="stable"):
                weight = round(float(data[n]), 4)
                if weight <= 0 or len(items) >= self.top:
                    break
                name = self.names[columns[n]]
                part = name.split("__", 1)[0]
                if part in self._word_parts:
                    words = self._word_spans(doc) if words is None else words
                    term = name[len(part) + 2:]
                    item = self._word_item(doc, words.get(term), record["text"])
                else:
                    cues = self._cue_spans(doc, record) if cues is None else cues
                    term = name[len(RULES) + 2:]
                    item = self._cue_item(doc, cues.get(term))
                if item is not None:
                    start, end, text, entry = item
                    items.append({"rule": MODEL_RULE, "label": label, "text": text, "start": start, "end": end,
                                  "context": [], "triggers": [], "kind": MODEL_KIND, "entry": entry, "floor": False,
                                  "weight": weight, "term": term})
            out.append(items)
        return out

    def _word_spans(self, doc: Doc) -> dict[str, tuple[int, int]]:
        """Each word n-gram and offence word of the log, as the features read them, with the first and last doc
        token of its first occurrence."""
        from classifier.features import normalised_words

        pieces = [(piece, i) for word, i in marked_words(doc) for piece in word.split()]
        if self._normalise:
            read = [(w, pieces[a][1], pieces[b][1]) for w, a, b in normalised_words([p for p, _ in pieces])]
        else:
            read = [(p, i, i) for p, i in pieces]
        # The vectorizer lower-cases and cuts the joined words; cut word by word, the tokens are the same, since no
        # token runs across a space.
        every = [(t, a, b) for w, a, b in read for t in self._tokenize(self._preprocess(w))]
        # An offence word is a column of its own, and the n-grams break at it (features.BrokenNgramVectorizer).
        spans: dict[str, tuple[int, int]] = {t: (a, b) for t, a, b in reversed(every) if t in self._left_out}
        runs: list[list[tuple]] = [[]]
        for token in every:
            if token[0] in self._left_out:
                runs.append([])
            else:
                runs[-1].append(token)
        low, high = self.words.ngram_range
        for n in range(low, high + 1):
            for run in runs:
                for k in range(len(run) - n + 1):
                    spans.setdefault(" ".join(t for t, _, _ in run[k:k + n]), (run[k][1], run[k + n - 1][2]))
        return spans

    @staticmethod
    def _word_item(doc: Doc, tokens: tuple[int, int] | None, doc_text: str) -> tuple | None:
        """(start, end, text, entry) in the text as given of the doc tokens first..last."""
        if tokens is None:
            return None
        first, last = doc[tokens[0]], doc[tokens[1]]
        start, end, text = source_span(doc, first.idx, last.idx + len(last.text), doc_text)
        return start, end, text, first._.entry

    def _cue_spans(self, doc: Doc, record: dict) -> dict[str, int]:
        """Each cue feature of the log (`RuleEvidenceVectorizer`) with the index of its first cue in the evidence."""
        spans: dict[str, int] = {}
        if self.rules is None:
            return spans
        for i, cue in enumerate(record["cues"]):
            for key in self.rules.cue_keys(cue):
                spans.setdefault(key, i)
        return spans

    @staticmethod
    def _cue_item(doc: Doc, index: int | None) -> tuple | None:
        """(start, end, text, entry) of the cue at `index` of the doc's evidence."""
        if index is None:
            return None
        cue = doc._.evidence[index]
        return cue["start"], cue["end"], cue["text"], cue["entry"]


def _prefixed(names: np.ndarray, part: str) -> np.ndarray:
    return np.char.startswith(names.astype(str), part + "__")


def is_model_item(item: dict) -> bool:
    """Whether an evidence item is one of the model's terms (kind `model`), not a rule cue."""
    return item.get("kind") == MODEL_KIND


def describe(item: dict) -> str:
    """How a reviewer reads a model item: `model term 'keep putt', weight +0.32`."""
    return f"model term {item.get('term', item['text'])!r}, weight {item['weight']:+.2f}"
