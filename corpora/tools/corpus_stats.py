"""Counts of the labelled corpus by split and label, and its shape per style beside real records.

    python corpora/tools/corpus_stats.py

The shape table gives, per `style` and overall, what `shared/real-shape.md` gives for five real agencies:
records, share with an offence, words per log (median and 10th-90th percentile), and the share of offences
and of `none` logs that hold a word of a plain offence-word search (the list below, as real-shape.md names
it), with the shares of hidden offences and hard negatives.
"""

from __future__ import annotations

import re
import sys
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from classifier.corpus import (  # noqa: E402
    RULE_BLIND,
    SPLITS,
    load_corpus,
    load_rule_blind,
    read_logs,
    split_of,
    style_of,
    writer_of,
)
from classifier.labels import LABELS, NONE  # noqa: E402

# The plain offence-word search of shared/real-shape.md: word starts, so "hit" is not found in "white".
KEYWORD = re.compile(
    r"\b(assault|attack|batter|beat|bite|bit|bitten|bruis|punch|kick|slap|hit|stab|knife|knives|cut|strangl|chok"
    r"|grab|push|spit|spat|struck|injur|wound|blood|threat|kill|rape|raping|sexual|touch|grop|fondl|expos"
    r"|indecent|flash|molest|harass|stalk|malicious|coercive|abh|gbh|s47|s18|s20|a occ)", re.IGNORECASE)


def shape(records: list[dict]) -> dict:
    offences = [r for r in records if r["label"] != NONE]
    none = [r for r in records if r["label"] == NONE]
    words = np.array([len(r["text"].split()) for r in records])

    def keyword_share(rows):
        return sum(bool(KEYWORD.search(r["text"])) for r in rows) / max(len(rows), 1)

    return {"records": len(records), "offences": len(offences) / max(len(records), 1),
            "median": int(np.median(words)), "p10": int(np.percentile(words, 10)),
            "p90": int(np.percentile(words, 90)), "kw_offences": keyword_share(offences),
            "kw_none": keyword_share(none),
            "hidden": sum(bool(r.get("hidden")) for r in offences) / max(len(offences), 1),
            "hard": sum(bool(r.get("hard_negative")) for r in none) / max(len(none), 1)}


# Batches written to the real world's shape (DATASHEET): most offences named plainly, most `none` logs about other
# things. Batches 01-15 were written to be hard.
REAL_SHAPE_BATCHES = (*range(16, 23), *range(26, 42))


def _writers_of(batches) -> set[str]:
    writers = set()
    for number in batches:
        path = ROOT / "corpora" / "incidents" / f"batch-{number:02d}.jsonl"
        if path.is_file():
            writers.update(writer_of(r["incident_id"]) for r in read_logs(path))
    return writers


def main() -> None:
    records = list(load_corpus(ROOT / "corpora" / "incidents"))

    print(f"{'':24}" + "".join(f"{s:>7}" for s in (*SPLITS, "all")))
    for label in LABELS:
        counts = Counter(split_of(r["incident_id"]) for r in records if r["label"] == label)
        print(f"{label:24}" + "".join(f"{counts[s]:7}" for s in SPLITS) + f"{sum(counts.values()):7}")
    total = Counter(split_of(r["incident_id"]) for r in records)
    print(f"{'total':24}" + "".join(f"{total[s]:7}" for s in SPLITS) + f"{len(records):7}")
    none = [r for r in records if r["label"] == NONE]
    positives = [r for r in records if r["label"] != NONE]
    print(f"hard negatives: {sum(bool(r.get('hard_negative')) for r in none)} of {len(none)} none")
    print(f"hidden positives: {sum(bool(r.get('hidden')) for r in positives)} of {len(positives)}")
    words = sorted(len(r["text"].split()) for r in records)
    print(f"words per log: min {words[0]}, median {words[len(words) // 2]}, max {words[-1]}")

    by_style = defaultdict(list)
    for r in records:
        by_style[style_of(r)].append(r)
    print()
    print(f"{'style':28} {'records':>7} {'offences':>8} {'words: median (10-90)':>22} {'kw in offences':>14} "
          f"{'kw in none':>10} {'hidden':>7} {'hard neg':>8}")
    shaped = _writers_of(REAL_SHAPE_BATCHES)
    real_shape = [r for r in records if writer_of(r["incident_id"]) in shaped]
    for name, rows in [*sorted(by_style.items()), ("real shape (16-22, 26-41)", real_shape), ("all", records)]:
        if not rows:
            continue
        f = shape(rows)
        print(f"{name:28} {f['records']:7} {f['offences']:8.1%} {f['median']:>11} ({f['p10']}-{f['p90']}){'':>3} "
              f"{f['kw_offences']:14.0%} {f['kw_none']:10.0%} {f['hidden']:7.0%} {f['hard']:8.0%}")

    # Counts and shape only: the rule-blind logs' misses are never listed (classifier.corpus.RULE_BLIND).
    blind = list(load_rule_blind(ROOT / "corpora" / "incidents"))
    if blind:
        counts = Counter(r["label"] for r in blind)
        print()
        print(f"rule-blind logs ({RULE_BLIND}/): {len(blind)}: " + ", ".join(f"{label} {counts[label]}" for label in LABELS))
        f = shape(blind)
        print(f"{'rule-blind':28} {f['records']:7} {f['offences']:8.1%} {f['median']:>11} ({f['p10']}-{f['p90']}){'':>3} "
              f"{f['kw_offences']:14.0%} {f['kw_none']:10.0%} {f['hidden']:7.0%} {f['hard']:8.0%}")


if __name__ == "__main__":
    main()
