from __future__ import annotations

import csv
import json
from pathlib import Path

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
