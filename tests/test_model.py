"""The trained model: estimator conventions, calibration, artefacts that refuse to load when tampered with."""

from __future__ import annotations

import json
import shutil
from collections import Counter

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from classifier.model_versions import load_model
from classifier.cli import cli
from classifier.corpus import load_corpus, split_of
from classifier.errors import ModelError
from classifier.features import FieldSelector, RuleEvidenceVectorizer
from classifier.labels import LABELS
from classifier.model import (ConfidenceCalibratedClassifier, OffenceWordsLogisticRegression, build_estimator,
                              offence_weights)
from classifier.training.thresholds import (pr_points, precision_at_recall, recall_at_precision, threshold_above,
                                   threshold_for_precision, threshold_for_recall)

from helpers import ROOT, SMALL, read_jsonl, toy_word_model, write_jsonl


def _analysis(cues=(), text="x", marked="x", floor=()):
    return {"text": text, "marked": marked, "cues": list(cues),
            "rule_probabilities": {label: 1 / 6 for label in LABELS}, "floor": list(floor)}


def test_person_and_role_words_are_one_token_for_the_word_ngrams():
    selector = FieldSelector("marked", normalise_roles=True)
    written = ["he push her", "the suspect push the victim", "male subject push a acquaintance", "s1 push v1"]
    assert set(selector.transform([_analysis(marked=m) for m in written])) == {"someone push someone"}
    # A negation mark is kept apart: "not the victim" is not "the victim".
    assert selector.transform([_analysis(marked="neg_victim push")]) == ["neg_someone push"]
    assert FieldSelector("marked").transform([_analysis(marked="he push her")]) == ["he push her"]


def test_the_floor_is_a_feature_the_model_can_weigh():
    vec = RuleEvidenceVectorizer().fit([_analysis(floor=["rape"]), _analysis()])
    names = list(vec.get_feature_names_out())
    row = vec.transform([_analysis(floor=["rape"])]).toarray()[0]
    assert row[names.index("floor=rape")] == 1.0 and row[names.index("floor")] == 1.0


def test_rule_evidence_vectorizer_separates_context_states():
    vec = RuleEvidenceVectorizer()
    active = _analysis([{"rule": "r", "label": "rape", "kind": "offence", "state": "active", "described": []}])
    negated = _analysis([{"rule": "r", "label": "rape", "kind": "offence", "state": "negated", "described": []}])
    assert vec.fit([active, negated]) is vec
    names = list(vec.get_feature_names_out())
    assert "rape|offence|active" in names and "rape|offence|negated" in names
    rows = vec.transform([active, negated]).toarray()
    assert rows[0][names.index("rape|offence|active")] > 0 and rows[0][names.index("rape|offence|negated")] == 0


def test_custom_estimators_follow_scikit_learn_conventions():
    for estimator in (RuleEvidenceVectorizer(use_rule_ids=False), RuleEvidenceVectorizer(monotone=("floor",)),
                      FieldSelector("text"),
                      ConfidenceCalibratedClassifier(method="sigmoid", cv=3),
                      OffenceWordsLogisticRegression(C=2.0, n_offence_words=3)):
        clone(estimator)
        assert estimator.get_params() == clone(estimator).get_params()
    with pytest.raises(NotFittedError):
        RuleEvidenceVectorizer().transform([_analysis()])
    with pytest.raises(NotFittedError):
        ConfidenceCalibratedClassifier(build_estimator().named_steps["classify"].estimator).predict_proba([_analysis()])


def test_probabilities_sum_to_one_and_follow_the_calibrated_confidence(small_model, rules):
    estimator, _ = load_model(small_model.folder, rules_version=rules.version)
    docs = [_analysis(text=t, marked=t) for t in ("he punched her in the face", "noise complaint, music off")]
    proba = estimator.predict_proba(docs)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert ((proba >= 0) & (proba <= 1)).all()


def test_manifest_records_what_an_auditor_needs(small_model):
    manifest = small_model.manifest
    for key in ("version", "sha256", "corpus", "rules", "libraries", "settings", "dev_metrics", "thresholds"):
        assert key in manifest
    assert manifest["corpus"]["hash"].startswith("sha256:")
    assert manifest["thresholds"]["likely"] > manifest["thresholds"]["review"]
    assert 0 < manifest["thresholds"]["floor_confidence"] <= 1
    assert {"scikit-learn", "numpy", "joblib", "spacy"} <= set(manifest["libraries"])


def test_a_tampered_model_file_is_refused(small_model, rules, tmp_path):
    folder = tmp_path / "tampered"
    shutil.copytree(small_model.folder, folder)
    with open(folder / "model.joblib", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(ModelError, match=r"model.joblib: SHA-256 .* does not match the manifest's .*will not be loaded"):
        load_model(folder, rules_version=rules.version)
    result = CliRunner().invoke(cli, ["classify", str(ROOT / "corpora" / "sample" / "incidents.csv"),
                                      "-o", str(tmp_path / "s.jsonl"), "--model", str(folder)])
    assert result.exit_code == 1
    assert "does not match the manifest" in result.output and "Traceback" not in result.output


def test_a_model_from_other_library_versions_is_refused(small_model, rules, tmp_path):
    folder = tmp_path / "old"
    shutil.copytree(small_model.folder, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["libraries"]["scikit-learn"] = "0.24.2"
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match=r"trained with scikit-learn 0.24.2, but .* is installed"):
        load_model(folder, rules_version=rules.version)


def test_a_model_trained_with_other_rules_is_refused(small_model):
    with pytest.raises(ModelError, match=r"retrain the model for these rules or scan with --rules-only"):
        load_model(small_model.folder, rules_version="sha256:0000")


def test_classify_with_the_model_passes_the_contract(small_model, tmp_path):
    out = tmp_path / "scores.jsonl"
    result = CliRunner().invoke(cli, ["classify", str(ROOT / "corpora" / "sample" / "incidents.csv"),
                                      "-o", str(out), "--model", str(small_model.folder)])
    assert result.exit_code == 0, result.output
    for score in read_jsonl(out):
        assert score["model"] == small_model.version
        assert set(score["probabilities"]) == set(LABELS)
        assert sum(score["probabilities"].values()) == pytest.approx(1.0, abs=1e-6)
        assert score["confidence"] == pytest.approx(1 - score["probabilities"]["none"], abs=1e-6)
        threshold = small_model.manifest["thresholds"]["review"]
        if score["confidence"] < threshold:
            assert score["label"] == "none" and score["decided_by"] == "none"
        else:
            offences = {k: v for k, v in score["probabilities"].items() if k != "none"}
            assert score["label"] == max(offences, key=offences.get)
            assert score["decided_by"] in ("rules", "model", "both")


def test_scan_bands_flags_and_takes_a_target_recall(small_model, tmp_path):
    sample = ROOT / "corpora" / "sample"
    out = tmp_path / "flags.jsonl"
    result = CliRunner().invoke(cli, ["scan", str(sample / "incidents.csv"), "--crimes", str(sample / "crimes.csv"),
                                      "-o", str(out), "--model", str(small_model.folder), "--target-recall", "0.8"])
    assert result.exit_code == 0, result.output
    expected = threshold_for_recall([tuple(p) for p in small_model.manifest["thresholds"]["curve"]], 0.8)
    assert f"threshold {expected:.3f}" in result.output
    likely = max(small_model.manifest["thresholds"]["likely"], expected)
    for flag in read_jsonl(out):
        assert flag["confidence"] >= expected or any(e["floor"] for e in flag["evidence"])
        assert flag["band"] == ("likely" if flag["confidence"] >= likely else "review")
    both = CliRunner().invoke(cli, ["scan", str(sample / "incidents.csv"), "--crimes", str(sample / "crimes.csv"),
                                    "-o", str(out), "--threshold", "0.5", "--target-recall", "0.9"])
    assert both.exit_code == 1 and "give --threshold or --target-recall, not both" in both.output


def test_evaluate_prints_writes_json_and_draws(small_model, small_corpus, tmp_path):
    labelled = write_jsonl(tmp_path / "labelled.jsonl", [
        {"incident_id": r["incident_id"], "text": r["text"], "label": r["label"]}
        for r in load_corpus(small_corpus) if split_of(r["incident_id"]) == "dev"])
    result = CliRunner().invoke(cli, ["evaluate", str(labelled), "--model", str(small_model.folder),
                                      "--corpus", str(small_corpus), "--json", str(tmp_path / "r.json"),
                                      "--plot", str(tmp_path / "r.png")])
    assert result.exit_code == 0, result.output
    for name in ("precision", "recall", "F1", "recall at precision 0.9", "precision at recall 0.95",
                 "label accuracy (positives)", "expected calibration error", "confusion matrix, model"):
        assert name in result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert set(report["methods"]) == {"model", "model_alone", "rules", "keyword", "word_ngrams"}
    assert set(report["methods"]["model"]["bands"]) == {"likely", "review", "saturated_share"}
    assert "model flags decided by: rules" in result.output
    # The small corpus has no rule-blind logs: the band was placed on the out-of-fold and dev scores.
    placed = report["likely_band"]
    assert placed["likely"] == small_model.manifest["thresholds"]["likely"] and placed["rule_blind"] is None
    assert f"model likely band from {placed['likely']:.3f}, placed on the {placed['placed_on']}" in result.output
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    # Leave-one-style-out and leave-one-writer-out over the corpus: every group scored by a model without it.
    corpus = list(load_corpus(small_corpus))
    for by, key in (("style", "style"), ("writer", None)):
        shift = report["held_out"][by]
        groups = {r[key] if key else r["incident_id"].split("-")[0] for r in corpus}
        assert {g["group"] for g in shift["groups"]} == groups and shift["models_trained"] == len(groups)
        assert sum(g["n"] for g in shift["groups"]) == shift["pooled"]["n"] == len(corpus)
        assert set(shift["pooled"]["methods"]) == {"model", "rules", "keyword"}
        assert f"worst held-out {by}: F1 " in result.output
        # The small corpus holds no test logs, so there is no table of them.
        assert "unread" not in shift["pooled"] and "test logs only" not in result.output


def test_held_out_groups_are_also_scored_on_their_unread_logs_alone(small_corpus, scorer):
    """A held-out group's train and dev logs may have been read to write rules; the logs nobody read (here the
    dev split stands in for the test split) are reported on their own, by the same held-out models."""
    from classifier.evaluation.held_out import figures, format_held_out, held_out_report
    from classifier.scoring.scorers import RULES_ONLY_THRESHOLD
    from classifier.training.train import analyse_texts

    corpus = list(load_corpus(small_corpus))
    analysed = analyse_texts(scorer, [r["text"] for r in corpus])
    unread = [split_of(r["incident_id"]) == "dev" for r in corpus]
    report = held_out_report(corpus, analysed, by="style", trainable=[not u for u in unread], rule_scorer=scorer,
                             unread=unread, unread_name="dev logs")
    assert report["unread_of"] == "dev logs"
    for group in report["groups"]:
        members = [i for i, (r, u) in enumerate(zip(corpus, unread)) if u and r["style"] == group["group"]]
        if not members:
            assert "unread" not in group
            continue
        part = group["unread"]
        gold = [corpus[i]["label"] != "none" for i in members]
        assert part["n"] == len(members) < group["n"] and part["offences"] == sum(gold)
        # The figures are the subset's own, not the whole group's: the rules' can be worked out here.
        rule_conf = [1.0 - analysed[i]["rule_probabilities"]["none"] for i in members]
        assert part["methods"]["rules"] == figures(gold, [c >= RULES_ONLY_THRESHOLD for c in rule_conf], rule_conf)
        assert part["methods"]["model"]["n"] == len(members)
    assert report["pooled"]["unread"]["n"] == sum(unread)
    text = format_held_out(report)
    assert "the same models on each style's dev logs only" in text
    assert text.count("model ECE above what a calibrated model reaches one time in 20") == 2


def test_the_held_out_report_lists_the_groups_beyond_chance_and_only_those():
    from classifier.evaluation.held_out import _beyond_chance

    def row(ece, bound):
        return {"methods": {"model": {"ece": ece, "ece_by_chance": bound}}}

    line = _beyond_chance([("call-taker-comment", row(0.083, 0.070)), ("uk-short-log", row(0.076, 0.112)),
                           ("online", row(0.070, 0.070))])
    assert line.endswith(": call-taker-comment 0.083 > 0.070")
    assert _beyond_chance([("uk-short-log", row(0.076, 0.112))]).endswith(": none")


def test_ece_by_chance_tells_a_small_sample_from_miscalibration():
    from classifier.evaluation.held_out import ece_by_chance
    from classifier.evaluation.metrics import expected_calibration_error

    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.0, 1.0, 40)
    calibrated = rng.random(40) < confidence
    # On 40 logs a calibrated model's ECE is large; the bound says so, and shrinks with the sample.
    assert 0.08 < ece_by_chance(confidence) < 0.25
    assert ece_by_chance(rng.uniform(0.0, 1.0, 4000)) < 0.03
    assert expected_calibration_error(confidence, calibrated) <= ece_by_chance(confidence)
    # Sure and wrong on every log is beyond any sample's noise.
    assert expected_calibration_error(confidence, confidence < 0.5) > ece_by_chance(confidence)
    # Confidences of 0 and 1 leave nothing to chance; no logs, no bound.
    assert ece_by_chance(np.array([1.0, 0.0, 1.0])) == 0.0
    assert ece_by_chance(np.array([])) == 0.0


def test_threshold_choice_by_meaning():
    confidence = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2]
    positive = [True, True, False, True, True, False, False]
    points = pr_points(confidence, positive)
    assert threshold_for_recall(points, 0.75) == 0.6
    assert threshold_for_recall(points, 1.0) == 0.4
    assert threshold_for_precision(points, 1.0) == 0.8
    assert recall_at_precision(points, 0.75) == 1.0
    assert precision_at_recall(points, 1.0) == pytest.approx(4 / 5)
    # The likely band starts strictly above the flag threshold, even where precision is already met there.
    assert threshold_above(points, 0.4, 0.8) == 0.8
    assert threshold_above(points, 0.8, 0.99) == 0.9
    assert threshold_above(points, 0.9, 0.99) == pytest.approx(0.900001)


def test_the_likely_band_on_a_few_hundred_logs_is_not_stopped_by_one_early_false_flag():
    from classifier.training.thresholds import lowest_threshold_above

    # The surest log is a false flag; below it precision recovers to 0.95 and then falls.
    confidence = [0.99, *np.linspace(0.98, 0.6, 19), 0.5, 0.45, 0.4, 0.35, 0.3]
    positive = [False, *[True] * 19, False, False, True, False, False]
    points = pr_points(confidence, positive)
    assert threshold_above(points, 0.2, 0.9) == 0.99  # stops at the first dip: a band of one false flag
    assert lowest_threshold_above(points, 0.2, 0.95) == pytest.approx(0.6)
    assert lowest_threshold_above(points, 0.2, 0.9) == 0.5  # 19 of 21 at and above it
    assert lowest_threshold_above(points, 0.2, 0.99) == 0.99  # never reached: the surest only
    assert lowest_threshold_above(points, 0.99, 0.9) == pytest.approx(0.990001)


def test_the_likely_band_is_placed_on_the_corpus_rule_blind_logs(small_corpus, rules, tmp_path):
    """With a rule-blind folder, `likely` is where precision reaches the target on those logs, recorded with
    what it gives there; without one, on the out-of-fold and dev scores as before."""
    from classifier.corpus import RULE_BLIND
    from classifier.training.train import LIKELY_PRECISION, LIKELY_SOURCE_BLIND, corpus_hash, train_model

    corpus = tmp_path / "corpus"
    shutil.copytree(small_corpus, corpus)
    blind = list(load_corpus(ROOT / "corpora" / "incidents", ("dev",)))[:120]
    (corpus / RULE_BLIND).mkdir()
    write_jsonl(corpus / RULE_BLIND / "logs.jsonl", blind)
    assert corpus_hash(corpus) != corpus_hash(small_corpus)
    version = train_model(corpus, rules, settings=SMALL, root=tmp_path / "models")
    marks, figures = version.manifest["thresholds"], version.manifest["rule_blind_metrics"]
    assert marks["likely_source"] == LIKELY_SOURCE_BLIND
    assert marks["likely"] > marks["review"]
    assert figures["n"] == len(blind) and figures["offences"] == sum(r["label"] != "none" for r in blind)
    assert figures["likely_precision"] is None or figures["likely_precision"] >= LIKELY_PRECISION or \
        figures["likely_flags"] <= 3
    assert version.manifest["corpus"]["rule_blind"] == dict(Counter(r["label"] for r in blind))

    plain = train_model(small_corpus, rules, settings=SMALL, root=tmp_path / "plain")
    assert "rule_blind_metrics" not in plain.manifest
    assert plain.manifest["thresholds"]["likely_source"] != LIKELY_SOURCE_BLIND


def test_stored_thresholds_keep_the_dev_log_that_set_them(small_model, small_corpus, rules):
    """A threshold is one dev log's confidence: stored to six places, it must still flag that log."""
    from classifier.scoring.analysis import analyse
    from classifier.evaluation.metrics import binary_report, offence_decisions
    from classifier.scoring.scorers import ModelScorer
    from classifier.training.thresholds import round_down, thin_curve

    scorer = ModelScorer(rules, small_model.folder)
    manifest = scorer.manifest
    dev = list(load_corpus(small_corpus, ("dev",)))
    records = [analyse(doc) for doc in scorer.rule_scorer.docs(r["text"] for r in dev)]
    proba, _ = scorer.final_proba(records)
    decided = offence_decisions(proba, LABELS, manifest["thresholds"]["review"])
    assert round(binary_report([r["label"] for r in dev], decided).recall, 4) == manifest["dev_metrics"]["recall"]

    assert round_down(0.5891628) == 0.589162 and round_down(0.25) == 0.25
    curve = thin_curve([(0.9999996, 1.0, 0.5), (0.4000004, 0.5, 1.0)])
    assert [t for t, _, _ in curve] == [0.999999, 0.4]


def test_offence_weights_say_which_way_a_word_pulls():
    from classifier.model import offence_weights

    _, estimator = toy_word_model()
    weights = offence_weights(estimator, ["zebra", "giraffe", "okapi"])
    assert weights["zebra"] > 0 > weights["giraffe"] and weights["okapi"] is None


def test_without_offence_words_the_linear_model_fits_what_logistic_regression_fits():
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    x, y = make_classification(n_samples=300, n_features=12, n_informative=6, n_classes=3, weights=[0.6, 0.3, 0.1],
                               random_state=0)
    labels = np.array(["none", "rape", "violence_with_injury"])[y]
    weights = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    ours = OffenceWordsLogisticRegression(C=4.0, class_weight="balanced", tol=1e-8)
    theirs = LogisticRegression(C=4.0, class_weight="balanced", tol=1e-8, max_iter=5000)
    ours.fit(x, labels, sample_weight=weights)
    theirs.fit(x, labels, sample_weight=weights)
    assert list(ours.classes_) == list(theirs.classes_)
    assert np.abs(ours.predict_proba(x) - theirs.predict_proba(x)).max() < 1e-5
    # Two labels: scikit-learn fits one row of weights, and its fit at 2C is ours at C.
    two = labels != "violence_with_injury"
    ours = OffenceWordsLogisticRegression(C=4.0, class_weight="balanced", tol=1e-8).fit(x[two], labels[two])
    theirs = LogisticRegression(C=8.0, class_weight="balanced", tol=1e-8, max_iter=5000).fit(x[two], labels[two])
    assert np.abs(ours.predict_proba(x) - theirs.predict_proba(x)).max() < 1e-5


def test_the_linear_model_says_when_it_cannot_fit():
    with pytest.raises(ValueError, match="at least two labels"):
        OffenceWordsLogisticRegression().fit(np.eye(3), ["none"] * 3)
    with pytest.raises(ValueError, match="sample_weight has 2 values for 3 rows"):
        OffenceWordsLogisticRegression().fit(np.eye(3), ["none", "rape", "none"], sample_weight=[1.0, 2.0])
    from sklearn.exceptions import ConvergenceWarning

    with pytest.warns(ConvergenceWarning):
        OffenceWordsLogisticRegression(max_iter=1).fit(np.eye(4) * 3, ["none", "rape", "none", "rape"])


def test_an_offence_word_never_pulls_away_from_an_offence():
    """A word of the rules' offence words that the training logs put mostly in `none` logs gets no weight against
    an offence; unconstrained, it would. Marked ("neg_punch") it is another word, free to pull either way."""
    def record(words):
        return {"text": words, "marked": words, "cues": [], "floor": [],
                "rule_probabilities": {label: 1.0 / len(LABELS) for label in LABELS}}

    offence = ["he zebra her at the bus stop", "zebra again outside the shop", "the zebra left her shaking",
               "she said he zebra her twice", "punch and zebra by the ex at home"]
    innocent = ["punch found in the park neg_punch", "lost punch near the station neg_punch",
                "punch left in a taxi neg_punch", "a punch handed in at the desk neg_punch",
                "giraffe reported missing by the owner"]
    x = [record(t) for t in offence + innocent] * 2
    y = (["violence_without_injury"] * 5 + ["none"] * 5) * 2
    free = build_estimator({"cv": 2, "min_df": 1, "offence_words": False}).fit(x, y)
    bound = build_estimator({"cv": 2, "min_df": 1}, offence_words=["punch", "stab"]).fit(x, y)
    assert offence_weights(free, ["punch"])["punch"] < 0
    weights = offence_weights(bound, ["punch", "neg_punch", "zebra"])
    assert weights["punch"] >= 0
    assert weights["neg_punch"] < 0 < weights["zebra"]
    names = list(bound.named_steps["features"].get_feature_names_out())
    # The word block leaves the offence words out: one column for "punch", and it is the bounded one; and no
    # n-gram runs across it ("lost punch near" gives no "lost near").
    assert [n for n in names if n.endswith("__punch")] == ["offence_words__punch"]
    assert names[-2:] == ["offence_words__punch", "offence_words__stab"]
    assert "words__lost near" not in names and "words__lost" in names


def test_an_active_cue_never_pulls_away_from_an_offence_with_monotone_rules():
    """A rule whose active cue the training logs put mostly in `none` logs (a knife in robberies, say) learns a
    weight against an offence; with `monotone_rules` it cannot, so the model cannot argue down what the rules
    read as active. The same cue negated stays free, and so do the words that explain the `none` logs."""
    def record(words, state=None):
        cues = [] if state is None else [{"rule": "knife-threat", "label": "violence_without_injury",
                                           "kind": "offence", "state": state, "described": []}]
        return {"text": words, "marked": words, "cues": cues, "floor": [],
                "rule_probabilities": {label: 1.0 / len(LABELS) for label in LABELS}}

    x = ([record(t, "active") for t in ("till cash taken", "took the till money", "cash from the till",
                                         "robbed the till")]
         + [record("held a knife to her throat", "active")]
         + [record(t, "negated") for t in ("no knife seen", "knife not shown")]
         + [record(t) for t in ("he hit her", "she was kicked", "he slapped her", "lost bag")]) * 2
    y = (["none"] * 4 + ["violence_without_injury"] + ["none"] * 2
         + ["violence_without_injury"] * 3 + ["none"]) * 2
    kinds = {"knife-threat": "offence"}
    free = build_estimator({"cv": 2, "min_df": 1, "monotone_rules": []}, offence_words=[], cue_kinds=kinds).fit(x, y)
    bound = build_estimator({"cv": 2, "min_df": 1, "monotone_rules": ["offence"]}, offence_words=[],
                            cue_kinds=kinds).fit(x, y)
    active = ["rules__rule=knife-threat|active", "rules__violence_without_injury|offence|active"]
    assert min(_pulls(free, active).values()) < 0
    assert min(_pulls(bound, active).values()) >= 0
    assert _pulls(bound, ["rules__rule=knife-threat|negated"])["rules__rule=knife-threat|negated"] < 0
    names = list(bound.named_steps["features"].get_feature_names_out())
    # The bounded columns close the union, in the order RuleEvidenceVectorizer.active_offence_features gives them.
    linear = bound.named_steps["classify"].estimator_
    assert set(active) <= set(names[-linear.n_offence_words:])
    assert "rules__rule=knife-threat|negated" not in names[-linear.n_offence_words:]
    # A cue no training log had active still has its column, so the bound is in place for it.
    assert "rules__rape|offence|active" in names


def _pulls(estimator, names) -> dict:
    """The offence-vs-none weight of each named feature column (as offence_weights, for any column)."""
    from classifier.labels import NONE

    columns = list(estimator.named_steps["features"].get_feature_names_out())
    linear = estimator.named_steps["classify"].estimator_
    none = list(linear.classes_).index(NONE)
    out = {}
    for name in names:
        weights = linear.coef_[:, columns.index(name)]
        out[name] = float(np.log(np.mean(np.exp(np.delete(weights, none)))) - weights[none])
    return out


def test_rule_features_of_a_model_saved_before_monotone_still_work():
    """A pickle made before `monotone` existed has no such attribute: it transforms as it did (every feature
    in DictVectorizer's order, none held apart), and it can still be cloned, as retraining does."""
    import pickle

    records = [_analysis(cues=[{"rule": "r1", "label": "rape", "kind": "offence", "state": "active",
                                "described": []}], floor=["rape"]), _analysis()]
    vec = RuleEvidenceVectorizer().fit(records)
    old = pickle.loads(pickle.dumps(vec))
    del old.__dict__["monotone"]
    assert (old.transform(records).toarray() == vec.transform(records).toarray()).all()
    assert list(old.get_feature_names_out()) == list(vec.vectorizer_.get_feature_names_out())
    assert clone(old).get_params() == RuleEvidenceVectorizer().get_params()


def test_monotone_rules_must_name_cue_kinds():
    with pytest.raises(ValueError, match="offense"):
        build_estimator({"monotone_rules": ["offense"]}, offence_words=[], cue_kinds={})


def test_calibration_folds_keep_writers_or_styles_together():
    from classifier.model import calibration_groups, manifest_settings

    writers, styles = ["MC", "MC", "DQ"], ["uk-incident-log", "cad-shorthand", "uk-incident-log"]
    assert calibration_groups(writers, styles, {}) == writers
    assert calibration_groups(writers, styles, {"calibration_folds": "style"}) == styles
    # A model saved before the setting was calibrated on writers' folds.
    assert manifest_settings({"settings": {"C": 1.0}})["calibration_folds"] == "writer"
    with pytest.raises(ValueError, match="calibration_folds"):
        calibration_groups(writers, styles, {"calibration_folds": "batch"})


def test_held_out_calibration_folds_keep_the_chosen_groups_together(small_corpus, scorer, monkeypatch):
    from classifier.corpus import style_of, writer_of
    from classifier.evaluation.held_out import held_out_scores
    from classifier.model import ConfidenceCalibratedClassifier
    from classifier.training.train import analyse_texts

    corpus = list(load_corpus(small_corpus))
    analysed = analyse_texts(scorer, [r["text"] for r in corpus])
    labels, styles = [r["label"] for r in corpus], [style_of(r) for r in corpus]
    writers = [writer_of(r["incident_id"]) for r in corpus]
    seen = []

    class Stop(Exception):
        pass

    def fit(self, X, y, sample_weight=None, groups=None):
        seen.append(list(groups))
        raise Stop

    monkeypatch.setattr(ConfidenceCalibratedClassifier, "fit", fit)
    for by, expected in (("writer", writers), ("style", styles)):
        with pytest.raises(Stop):
            held_out_scores(analysed, labels, styles, writers, styles=styles, settings={"calibration_folds": by})
        held = sorted(set(styles))[0]
        assert seen[-1] == [g for g, s in zip(expected, styles) if s != held]
    with pytest.raises(ValueError, match="style"):
        held_out_scores(analysed, labels, styles, writers, settings={"calibration_folds": "style"})


def test_every_offence_word_of_the_rules_pulls_toward_an_offence_in_the_shipped_model(rules):
    from classifier.model_versions import resolve

    estimator, manifest = load_model(resolve(None))
    if "offence_words" not in dict(estimator.named_steps["features"].transformer_list):
        pytest.skip(f"the shipped model {manifest['version']} has no offence words")
    weights = offence_weights(estimator, [w.word for w in rules.offence_words])
    print("\n".join(f"{word:16} {weight:+.3f}" for word, weight in weights.items()))
    assert all(weight is not None and weight >= 0 for weight in weights.values())


def test_no_active_offence_cue_pulls_away_from_an_offence_in_the_shipped_model(rules):
    """With `monotone_rules`, every rule feature of an active offence cue, the rules' probability of each
    offence and the floor pull toward an offence or not at all (decision 0007)."""
    from classifier.model import manifest_settings
    from classifier.model_versions import resolve

    estimator, manifest = load_model(resolve(None))
    kinds = manifest_settings(manifest)["monotone_rules"]
    if not kinds:
        pytest.skip(f"the shipped model {manifest['version']} was trained without monotone_rules")
    names = [f"rules__{name}" for name in RuleEvidenceVectorizer().active_offence_features(rules.cue_kinds, kinds)]
    columns = list(estimator.named_steps["features"].get_feature_names_out())
    assert set(names) <= set(columns)
    pulls = _pulls(estimator, names)
    assert min(pulls.values()) >= 0, {n: p for n, p in pulls.items() if p < 0}
