"""What explaining the model's own flags costs a scan: the model's terms as evidence (classifier.scoring.model_terms).

    python benchmarks/model_evidence_cost.py [--n 2000] [--model VERSION|FOLDER] [--repeat 5]

Reads N corpus logs (sampled with a fixed seed) through the rule pipeline once, then scores them with the model in
the scorer's batches several times, and prints the CPU time of: the pipeline's reading, the model's scoring
(`ModelScorer.score_docs`) and, within it, the model evidence (the terms of the logs the model raises with no
rule cue that counts), with the number of such logs. CPU time, not wall time, so other processes on the machine
do not blur the figures; medians of the repeats.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--model", default=None, help="a model version or folder [default: the current model]")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from classifier.corpus import load_corpus
    from classifier.model_versions import resolve
    from classifier.pipeline.ruleset import load_rules
    from classifier.scoring.scorers import ModelScorer

    scorer = ModelScorer(load_rules(), resolve(args.model))
    records = list(load_corpus(ROOT / "corpora" / "incidents"))
    random.Random(7).shuffle(records)
    texts = [r["text"] for r in records[:args.n]]
    started = time.process_time()
    docs = list(scorer.rule_scorer.docs(texts))
    reading = time.process_time() - started

    spent = [0.0]
    evidence = scorer.terms.evidence

    def timed(*a, **k):
        begun = time.process_time()
        try:
            return evidence(*a, **k)
        finally:
            spent[0] += time.process_time() - begun

    scorer.terms.evidence = timed

    def score():
        out = []
        for k in range(0, len(docs), scorer.batch_size):
            out.extend(scorer.score_docs(docs[k:k + scorer.batch_size]))
        return out

    score()
    totals, parts = [], []
    for _ in range(args.repeat):
        spent[0] = 0.0
        begun = time.process_time()
        scores = score()
        totals.append(time.process_time() - begun)
        parts.append(spent[0])
    explained = sum(any(e["kind"] == "model" for e in s["evidence"]) for s in scores)
    total, part = statistics.median(totals), statistics.median(parts)
    print(f"model {scorer.model_name}, {len(docs)} logs, CPU seconds (median of {args.repeat}):")
    print(f"  pipeline reading        {reading:8.3f}")
    print(f"  model scoring           {total:8.3f}")
    print(f"    of which the evidence {part:8.3f}  ({explained} logs explained, "
          f"{1000 * part / max(explained, 1):.2f} ms each; {100 * part / (reading + total):.2f}% of the whole)")


if __name__ == "__main__":
    main()
