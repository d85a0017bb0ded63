"""classify writes the same bytes for the corpus's test split as when tests/data/score_digests.json was made
(tests/score_digests.py): speed-ups must not change a score. With another model current, the digests say
nothing, so the test says which model they are of."""

from __future__ import annotations

import json

from score_digests import DIGESTS, ROOT, digests


def test_classify_writes_the_recorded_scores_byte_for_byte():
    expected = json.loads(DIGESTS.read_text())
    current = json.loads((ROOT / "models" / "current.json").read_text())["version"]
    assert expected["model"] == current, (
        f"the digests are of model {expected['model']}, the shipped model is {current}: after retraining on "
        "purpose, run python tests/score_digests.py")
    found = digests(workers=2)
    assert found["logs"] == expected["logs"] == len(found["scores"])
    changed = sorted(i for i, d in found["scores"].items() if expected["scores"].get(i) != d)
    assert changed == [], f"{len(changed)} scores changed, e.g. {changed[:5]}"
