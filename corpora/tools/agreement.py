"""Agreement between the writers' labels and the independent second labelling passes (Cohen's kappa).

    python corpora/tools/agreement.py

Each file in corpora/agreement/ holds one pass: incident_id, label, note, made by a labeller who saw only
the log (incident_id, codes and text), never the first label. Disagreements are listed for resolution.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from sklearn.metrics import cohen_kappa_score  # noqa: E402

from classifier.corpus import load_corpus, load_rule_blind  # noqa: E402
from classifier.labels import NONE  # noqa: E402


def main() -> None:
    first = {r["incident_id"]: r for folder in ("incidents", "force-language")
             for r in load_corpus(ROOT / "corpora" / folder)}
    first.update((r["incident_id"], r) for r in load_rule_blind(ROOT / "corpora" / "incidents"))
    total_a, total_b = [], []
    for path in sorted((ROOT / "corpora" / "agreement").glob("second-pass-*.jsonl")):
        second = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        a = [first[s["incident_id"]]["label"] for s in second]
        b = [s["label"] for s in second]
        total_a += a
        total_b += b
        agree = sum(x == y for x, y in zip(a, b))
        print(f"{path.name}: {len(second)} logs, {agree} agree, kappa {cohen_kappa_score(a, b):.3f} (six labels), "
              f"{cohen_kappa_score([x != NONE for x in a], [y != NONE for y in b]):.3f} (offence or none)")
        for s, x, y in zip(second, a, b):
            if x != y:
                print(f"  disagreement {s['incident_id']}: first {x}, second {y}: {s.get('note') or s.get('reason')}")
    print(f"all passes: {len(total_a)} logs, kappa {cohen_kappa_score(total_a, total_b):.3f}")


if __name__ == "__main__":
    main()
