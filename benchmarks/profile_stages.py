"""Where `classify` spends its time, stage by stage, on one core.

    python benchmarks/profile_stages.py [--n 2000] [--seed 1] [--rules 10]

Builds N logs as benchmarks/throughput.py does (corpus entries sampled at random, 1 to 6 per log) and runs
the stages of `classify --workers 1` on them one after another, in this process, with the default model:
reading the CSV, each spaCy component of the rule pipeline, the analysis record, the model's features, its
probabilities and the floor, the score records with the model's terms as evidence, and writing JSON Lines.
Prints seconds and share of the total per stage, words per second overall, and the --rules rules whose
Matcher runs cost most (time, runs, runs over the whole log because a pattern requires no word).

A stage's time is measured around it, so the figures add up to the run; cProfile's own overhead is not in
them. Absolute times vary on these machines; the shares are what to read.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from throughput import build_logs  # noqa: E402

from classifier.api import load_scorer  # noqa: E402
from classifier.io.readers import read_incidents  # noqa: E402
from classifier.io.writers import RecordWriter  # noqa: E402
from classifier.pipeline.patterns import PatternSet  # noqa: E402
from classifier.scoring.analysis import analyse  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rules", type=int, default=10, help="How many of the costliest rules to list.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ic-profile-") as tmp:
        logs = Path(tmp) / "logs.csv"
        words = build_logs(logs, args.n, args.seed)
        scorer = load_scorer()
        nlp = scorer.rule_scorer.nlp
        seconds: dict[str, float] = defaultdict(float)

        rule_time: dict[str, float] = defaultdict(float)
        runs, whole = Counter(), Counter()
        matcher_call = PatternSet.__call__

        def counted(self, doc):
            strings = self.vocab.strings
            found = set()
            for rule_id, stretches in self.active(doc).items():
                started = time.perf_counter()
                for lo, hi in stretches:
                    span = doc[lo:hi] if (lo, hi) != (0, len(doc)) else doc
                    found.update((strings[m], lo + s, lo + e) for m, s, e in self.matchers[rule_id](span, allow_missing=True))
                rule_time[rule_id] += time.perf_counter() - started
                runs[rule_id] += 1
                whole[rule_id] += stretches == [(0, len(doc))]
            return sorted(found, key=lambda x: (x[1], x[2], x[0]))

        started = time.perf_counter()
        incidents = list(read_incidents(logs))
        seconds["read CSV"] = time.perf_counter() - started

        started = time.perf_counter()
        docs = [nlp.make_doc(i.text) for i in incidents]
        seconds["tokenizer"] = time.perf_counter() - started
        PatternSet.__call__ = counted
        try:
            for name, component in nlp.pipeline:
                started = time.perf_counter()
                docs = [component(doc) for doc in docs]
                seconds[name] = time.perf_counter() - started
        finally:
            PatternSet.__call__ = matcher_call

        batch = scorer.batch_size
        scores = []
        for lo in range(0, len(docs), batch):
            part = docs[lo:lo + batch]
            ids = [i.incident_id for i in incidents[lo:lo + batch]]
            started = time.perf_counter()
            records = [analyse(doc) for doc in part]
            analysed = time.perf_counter() - started
            started = time.perf_counter()
            features = scorer.model_features(records)
            featured = time.perf_counter() - started
            started = time.perf_counter()
            scorer.final_proba(records, features)
            probabilities = time.perf_counter() - started
            # score_docs makes the written scores, doing those three steps again; what it spends beyond them is
            # the score records and the model's terms as evidence.
            started = time.perf_counter()
            scores.extend(scorer.score_docs(part, ids))
            whole_batch = time.perf_counter() - started
            seconds["analysis record"] += analysed
            seconds["model features"] += featured
            seconds["model probabilities + floor"] += probabilities
            seconds["score records + model-term evidence"] += max(0.0, whole_batch - analysed - featured - probabilities)

        started = time.perf_counter()
        with RecordWriter(Path(tmp) / "scores.jsonl") as out:
            for s in scores:
                out.write(s)
        seconds["write JSON Lines"] = time.perf_counter() - started

    total = sum(seconds.values())
    print(f"{args.n} logs, {words} words; {total:.1f} s in all, {words / total:,.0f} words/s on one core")
    print(f"{'stage':40}{'seconds':>9}{'share':>8}")
    for name, s in seconds.items():
        print(f"{name:40}{s:9.2f}{s / total:8.1%}")
    matcher = sum(rule_time.values())
    print(f"\nrule Matchers: {matcher:.2f} s ({matcher / total:.1%} of the run); the costliest rules:")
    print(f"{'rule':36}{'seconds':>9}{'runs':>7}{'whole log':>11}")
    for rule_id, s in sorted(rule_time.items(), key=lambda kv: -kv[1])[:args.rules]:
        print(f"{rule_id:36}{s:9.2f}{runs[rule_id]:7}{whole[rule_id]:11}")


if __name__ == "__main__":
    main()
