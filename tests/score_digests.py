"""Digests of the scores `classify` writes for the corpus's test split, with the shipped model and rules.

    python tests/score_digests.py      # rewrites tests/data/score_digests.json

tests/test_score_digests.py checks that classify still writes exactly these bytes: a change made for speed
must not change a score. Run this only when the model or the rules change on purpose (and say so in the
commit), never to make that test pass after a change that was meant to keep the scores.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIGESTS = ROOT / "tests" / "data" / "score_digests.json"


def test_split_logs(target: Path) -> int:
    sys.path.insert(0, str(ROOT))
    from classifier.corpus import load_corpus

    records = list(load_corpus(ROOT / "corpora" / "incidents", ("test",)))
    with open(target, "w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps({"incident_id": r["incident_id"], "text": r["text"]}) + "\n")
    return len(records)


def digests(workers: int = 1) -> dict:
    """{"logs": n, "scores": {incident_id: sha256 of its output line}} of classify over the test split."""
    with tempfile.TemporaryDirectory(prefix="ic-digests-") as tmp:
        logs, out = Path(tmp) / "logs.jsonl", Path(tmp) / "scores.jsonl"
        n = test_split_logs(logs)
        subprocess.run([sys.executable, "-c", "from classifier.cli import main; main()", "classify", str(logs),
                        "-o", str(out), "--workers", str(workers), "-q"], check=True, cwd=tmp, capture_output=True)
        lines = out.read_bytes().splitlines()
    scores = {json.loads(line)["incident_id"]: hashlib.sha256(line).hexdigest() for line in lines}
    return {"logs": n, "scores": scores}


if __name__ == "__main__":
    current = json.loads((ROOT / "models" / "current.json").read_text())["version"]
    data = {"model": current, **digests()}
    DIGESTS.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"{len(data['scores'])} score digests of model {current} written to {DIGESTS}")
