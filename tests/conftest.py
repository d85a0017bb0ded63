from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from classifier.ruleset import load_rules
from classifier.scoring import RuleScorer

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


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    """A few hundred logs from the corpus (train and dev splits only), enough to train quickly."""
    from classifier.corpus import load_corpus

    folder = tmp_path_factory.mktemp("corpus")
    records = list(load_corpus(ROOT / "corpora" / "incidents", ("train", "dev")))
    rng = np.random.default_rng(5)
    picked = [records[i] for i in sorted(rng.choice(len(records), 260, replace=False))]
    write_jsonl(folder / "logs.jsonl", picked)
    return folder


@pytest.fixture(scope="session")
def small_model(small_corpus, rules, tmp_path_factory):
    from classifier.artefacts import set_current
    from classifier.training import train_model

    root = tmp_path_factory.mktemp("models")
    version = train_model(small_corpus, rules, settings=SMALL, root=root)
    set_current(version.version, root)
    return version
