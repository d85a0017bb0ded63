"""Counts of the labelled corpus by split and label, hard negatives and hidden positives.

    python corpora/tools/corpus_stats.py
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from classifier.corpus import SPLITS, load_corpus  # noqa: E402
from classifier.labels import LABELS  # noqa: E402


def main() -> None:
    records = list(load_corpus(ROOT / "corpora" / "incidents"))
    from classifier.corpus import split_of

    print(f"{'':22}" + "".join(f"{s:>7}" for s in (*SPLITS, "all")))
    for label in LABELS:
        counts = Counter(split_of(r["incident_id"]) for r in records if r["label"] == label)
        print(f"{label:22}" + "".join(f"{counts[s]:7}" for s in SPLITS) + f"{sum(counts.values()):7}")
    total = Counter(split_of(r["incident_id"]) for r in records)
    print(f"{'total':22}" + "".join(f"{total[s]:7}" for s in SPLITS) + f"{len(records):7}")
    none = [r for r in records if r["label"] == "none"]
    positives = [r for r in records if r["label"] != "none"]
    print(f"hard negatives: {sum(bool(r.get('hard_negative')) for r in none)} of {len(none)} none")
    print(f"hidden positives: {sum(bool(r.get('hidden')) for r in positives)} of {len(positives)}")
    words = sorted(len(r["text"].split()) for r in records)
    print(f"words per log: min {words[0]}, median {words[len(words) // 2]}, max {words[-1]}")


if __name__ == "__main__":
    main()
