from __future__ import annotations

import pytest

from classifier.pipeline.ruleset import load_rules
from classifier.scoring.scorers import RuleScorer

from helpers import sample_corpus, train_small


@pytest.fixture(scope="session")
def rules():
    return load_rules()


@pytest.fixture(scope="session")
def scorer(rules):
    """The full pipeline, built once for the session."""
    return RuleScorer(rules)


@pytest.fixture(scope="session")
def nlp(scorer):
    return scorer.nlp


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    """Train and dev logs only: no test-split text reaches these tests."""
    return sample_corpus(tmp_path_factory.mktemp("corpus"), ("train", "dev"), 260, 5)


@pytest.fixture(scope="session")
def small_model(small_corpus, rules, tmp_path_factory):
    return train_small(small_corpus, rules, tmp_path_factory.mktemp("models"))
