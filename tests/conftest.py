from __future__ import annotations

import pytest

from classifier.pipeline.ruleset import load_rules
from classifier.scoring.scorers import RuleScorer

from helpers import sample_corpus, train_small


@pytest.fixture(autouse=True)
def models_home(tmp_path_factory, monkeypatch):
    """Every test gets an empty models home of its own: nothing a test trains, promotes or records reaches the
    checkout's models/ (the shipped model) or the user's data folder, and no test sees another's."""
    from classifier.resources import HOME_ENV

    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv(HOME_ENV, str(home))
    return home / "models"


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
