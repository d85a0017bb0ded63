"""Every flag explains itself: a log the model raises with no rule cue that counts lists the model's top terms."""

from __future__ import annotations

import re

import numpy as np
import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.features import FieldSelector
from classifier.labels import LABELS
from classifier.pipeline.ruleset import is_excluded
from classifier.scoring.analysis import analyse
from classifier.scoring.model_terms import TOP_TERMS, ModelTerms
from classifier.scoring.scorers import ModelScorer

from helpers import ROOT, read_jsonl, toy_word_model, write_csv
from test_hostile_input import check_contract

# No rule cue fires here; the shipped model flags it (an unsolicited explicit image). Spaces and a tab are tidied
# by the tokenizer, so the evidence offsets must be mapped back to the text as given.
MODEL_ONLY = ("RP F 38 GOT FB MSG REQUEST FROM UNKNOWN PROFILE 'MIKE T' WITH 3 PICS OF AN  ERECT\tPENIS + 'U LIKE?'. "
              "BLOCKED. WANTED TO KNOW IF WORTH REPORTING.")
RULES_DECIDE = "IP states her partner punched her in the face last night"


@pytest.fixture(scope="module")
def shipped(rules):
    from classifier.model_versions import resolve

    return ModelScorer(rules, resolve(None))


def _model_items(score):
    return [e for e in score["evidence"] if e["kind"] == "model"]


def _counts(score):
    return any(not is_excluded(e["context"]) for e in score["evidence"] if e["kind"] != "model")


def check_model_items(score, text, label=None):
    """label: what the items explain (a flag below the model's own threshold reads `none`, its items the offence)."""
    items = _model_items(score)
    assert 1 <= len(items) <= TOP_TERMS
    weights = [e["weight"] for e in items]
    assert all(w > 0 for w in weights) and weights == sorted(weights, reverse=True)
    for e in items:
        assert text[e["start"]:e["end"]] == e["text"] and e["text"].strip()
        assert e["rule"] == "model" and e["label"] == (label or score["label"]) != "none"
        assert e["context"] == [] and e["triggers"] == [] and e["floor"] is False and e["term"]
    # After the rule cues, never among them.
    kinds = [e["kind"] for e in score["evidence"]]
    assert kinds == sorted(kinds, key=lambda kind: kind == "model")
    check_contract(score, text)


def test_a_log_the_model_flags_with_no_rule_cue_lists_its_top_terms(shipped):
    [score] = shipped.score_docs(list(shipped.rule_scorer.docs([MODEL_ONLY])))
    assert score["decided_by"] == "model" and not _counts(score)
    check_model_items(score, MODEL_ONLY)
    # The word that matters is among the reasons, found at its words after a double space and a tab.
    assert {e["term"]: e["text"] for e in _model_items(score)}.get("penis") == "PENIS"


def test_a_flag_the_rules_decide_is_unchanged(shipped):
    [doc] = shipped.rule_scorer.docs([RULES_DECIDE])
    [score] = shipped.score_docs([doc])
    assert score["decided_by"] in ("rules", "both")
    assert score["evidence"] == doc._.evidence == shipped.rule_scorer.score_docs([doc])[0]["evidence"]
    assert not _model_items(score)


def test_model_items_go_exactly_to_what_the_model_raised_alone(shipped):
    """Over corpus logs: a model item where the model decided and no cue counts, nowhere else; the features and
    probabilities are what the estimator gives for the records."""
    from classifier.corpus import load_corpus

    texts = [r["text"] for r in list(load_corpus(ROOT / "corpora" / "incidents", ("train",)))[:300]]
    docs = list(shipped.rule_scorer.docs(texts))
    scores = shipped.score_docs(docs)
    explained = 0
    for text, doc, score in zip(texts, docs, scores):
        if score["decided_by"] == "model" and not _counts(score):
            check_model_items(score, text)
            explained += 1
        else:
            assert score["evidence"] == doc._.evidence
    assert explained >= 3
    records = [analyse(doc) for doc in docs[:50]]
    own = shipped.model_proba(records)
    assert np.array_equal(shipped.estimator.predict_proba(records)[:, [shipped.classes.index(l) for l in LABELS]], own)


def test_every_word_ngram_the_model_reads_is_found_in_the_text(shipped):
    """The word features' n-grams of a log, rebuilt token by token, are the vectorizer's own; and the marked words
    (negated, a role word) are found at the words they were made from."""
    from classifier.corpus import load_corpus

    terms = shipped.terms
    parts = dict(shipped.estimator.named_steps["features"].transformer_list)
    words = parts["words"].named_steps["tfidf"]
    analyzer = words.build_analyzer()
    tokenize, preprocess = words.build_tokenizer(), words.build_preprocessor()
    selector = FieldSelector("marked", normalise_roles=parts["words"].named_steps["select"].normalise_roles)
    # The offence words, a block of their own that the n-grams leave out, are words of the log too.
    offence_words = set(parts["offence_words"].named_steps["tfidf"].vocabulary) if "offence_words" in parts else set()
    texts = [r["text"] for r in list(load_corpus(ROOT / "corpora" / "incidents", ("dev",)))[:120]]
    texts.append("He did not hit her. The victim says male subject slammed the door and kicked it")
    for doc in shipped.rule_scorer.docs(texts):
        marked = selector.transform([analyse(doc)])[0]
        read = set(analyzer(marked)) | offence_words.intersection(tokenize(preprocess(marked)))
        assert set(terms._word_spans(doc)) == read
    spans = terms._word_spans(doc)

    def words_of(term):
        first, last = spans[term]
        return doc[first:last + 1].text

    assert words_of("neg_hit") == "hit"
    assert words_of("someone say") == "victim says"
    assert words_of("someone slam") == "male subject slammed"
    if offence_words:
        assert words_of("kick") == "kicked"


def test_a_weight_is_the_value_times_the_offence_pull_beyond_a_typical_log():
    """Two labels: the pull is the one row of weights; a word in every log explains nothing."""
    from classifier.model import offence_weights

    x, estimator = toy_word_model(" report")
    terms = ModelTerms(estimator)
    features = estimator.named_steps["features"].transform(x[:1])
    weights = terms.weights(features).toarray()[0]
    names = list(terms.names)
    zebra, report = names.index("words__zebra"), names.index("words__report")
    tfidf = dict(estimator.named_steps["features"].transformer_list)["words"].named_steps["tfidf"]
    share = np.exp(1.0 - tfidf.idf_[tfidf.vocabulary_["zebra"]])
    value = features.toarray()[0, zebra]
    assert weights[zebra] == pytest.approx(value * offence_weights(estimator, ["zebra"])["zebra"] * (1 - share))
    assert weights[zebra] > 0 and weights[report] == pytest.approx(0.0)
    # The rules' own probabilities are not words of the log: never a term.
    assert all(weights[names.index(f"rules__rule_p={label}")] == 0 for label in LABELS)


def test_a_scan_below_the_models_threshold_explains_its_model_flags(shipped, tmp_path):
    from classifier.batch.scan import scan

    quiet = "Caller asked for advice about a neighbour's new fence, officers attended, words of advice given"
    logs = [{"incident_id": "M", "text": MODEL_ONLY}, {"incident_id": "Q", "text": quiet}]
    flags = list(scan(logs, scorer=shipped, threshold=0.05))
    assert shipped.model_evidence_from == shipped.threshold
    assert [f["incident_id"] for f in flags] == ["M", "Q"]
    assert flags[0]["confidence"] >= shipped.threshold > flags[1]["confidence"] and flags[1]["label"] == "none"
    assert [f["decided_by"] for f in flags] == ["model", "model"]
    check_model_items(flags[0], MODEL_ONLY)
    offence = max((label for label in LABELS if label != "none"), key=flags[1]["probabilities"].get)
    check_model_items(flags[1], quiet, label=offence)
    # The same log scored at the model's own threshold carries no model items: it is not flagged there.
    [score] = shipped.score_docs(list(shipped.rule_scorer.docs([quiet])))
    assert score["decided_by"] == "none" and not _model_items(score)


def test_review_show_the_report_and_explain_show_model_terms(tmp_path):
    logs = write_csv(tmp_path / "logs.csv", ["incident_id", "text"], [["M", MODEL_ONLY], ["R", RULES_DECIDE]])
    crimes = write_csv(tmp_path / "crimes.csv", ["crime_id", "incident_id"], [])
    db = str(tmp_path / "flags.sqlite")
    result = CliRunner().invoke(cli, ["scan", str(logs), "--crimes", str(crimes), "-o", str(tmp_path / "f.jsonl"),
                                      "--db", db, "--workers", "2", "-q"])
    assert result.exit_code == 0, result.output
    flags = {f["incident_id"]: f for f in read_jsonl(tmp_path / "f.jsonl")}
    assert _model_items(flags["M"]) and not _model_items(flags["R"])
    top = _model_items(flags["M"])[0]

    shown = CliRunner().invoke(cli, ["review", "show", "M", "--db", db, "--no-colour"]).output
    marked = re.findall(r"\{\{(.*?)\}\}", shown, flags=re.S)
    assert marked and set(marked) <= {e["text"] for e in _model_items(flags["M"])}
    assert f"[model] model term {top['term']!r}, weight {top['weight']:+.2f} -> {top['label']}: {top['text']!r}" in shown
    assert "[counts] model" not in shown
    rules_shown = CliRunner().invoke(cli, ["review", "show", "R", "--db", db, "--no-colour"]).output
    assert "[model]" not in rules_shown and "[[" in rules_shown

    page = tmp_path / "flags.html"
    assert CliRunner().invoke(cli, ["report", "-o", str(page), "--db", db]).exit_code == 0
    html = page.read_text(encoding="utf-8")
    assert '<mark class="model"' in html and f"weight {top['weight']:+.2f}" in html

    explained = CliRunner().invoke(cli, ["explain", "--text", MODEL_ONLY]).output
    assert "MODEL TERMS" in explained and f"model term {top['term']!r}, weight {top['weight']:+.2f}" in explained
    assert "in the evidence: yes" in explained
