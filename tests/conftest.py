from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from classifier.pipeline.ruleset import load_rules
from classifier.scoring.scorers import RuleScorer

ROOT = Path(__file__).resolve().parent.parent


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


def write_csv(path: Path, header: list[str], rows: list[list]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


SMALL = {"cv": 2, "min_df": 1}


def sample_corpus(folder: Path, splits: tuple[str, ...], size: int, seed: int) -> Path:
    """A few hundred logs from the corpus, enough to train a model quickly."""
    from classifier.corpus import load_corpus

    records = list(load_corpus(ROOT / "corpora" / "incidents", splits))
    rng = np.random.default_rng(seed)
    write_jsonl(folder / "logs.jsonl", [records[i] for i in sorted(rng.choice(len(records), size, replace=False))])
    return folder


def train_small(corpus: Path, rules, root: Path):
    """A small model version, made current in its own models folder."""
    from classifier.model_versions import set_current
    from classifier.training.train import train_model

    version = train_model(corpus, rules, settings=SMALL, root=root)
    set_current(version.version, root)
    return version


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    """Train and dev logs only: no test-split text reaches these tests."""
    return sample_corpus(tmp_path_factory.mktemp("corpus"), ("train", "dev"), 260, 5)


@pytest.fixture(scope="session")
def small_model(small_corpus, rules, tmp_path_factory):
    return train_small(small_corpus, rules, tmp_path_factory.mktemp("models"))
