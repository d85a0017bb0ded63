"""How far each plain offence word pulls a log toward an offence in a trained model's word features.

    python benchmarks/keyword_weights.py [--model VERSION|FOLDER] [--words-only] [WORD ...]

For each word (a lemma, as the word features read it), `classifier.model.offence_weights`: the change in the
log-odds of "any offence" against `none` that the word adds. A corpus whose `none` logs carry offence words
more often than its offences do teaches negative weights here; real records are the other way round (see
`shared/real-shape.md`). The rule features, which already count an active cue, are not included: this is what
the words add beyond them, and a word whose offences the rules already find keeps only what is left, mostly the
`none` logs where a rule fired wrongly, so it can read below zero with no inversion in the corpus.

`--in-context` measures the whole model instead: over the train logs where the word stands plainly (not
negated, hypothetical, another event or not literal), the mean change in the classifier's own log-odds of "any
offence" (its linear scores, before calibration and the rule floor) when those words are taken out of the log
and it is read again, rules and all. That is what the word does in the shipped model: where a rule reads the same word
("injury" and the rule `injury-words`) the rule feature carries its pull, and the word's own column can sit at
0 while the word still raises a log.

`--words-only` separates the two: it also trains a model of the same settings on the same corpus without the
rule features (a minute or so, in a temporary folder) and prints its weights beside: what the corpus teaches a
word when no rule has counted it first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ("choke", "strangle", "punch", "injury", "threaten", "battery", "rape", "assault", "kill", "hit", "stab",
         "grab", "kick", "strike", "fondle", "expose", "spit", "harass", "stalk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("words", nargs="*", default=list(WORDS))
    parser.add_argument("--model", default=None, help="a model version or folder [default: the current model]")
    parser.add_argument("--words-only", action="store_true",
                        help="also train the same settings without the rule features and print those weights")
    parser.add_argument("--in-context", action="store_true",
                        help="also print each word's pull through the whole model, on the train logs that hold it")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpora" / "incidents",
                        help="the corpus --words-only trains on and --in-context reads [default: corpora/incidents]")
    args = parser.parse_args()

    from classifier.model_versions import load_model, resolve
    from classifier.model import offence_weights

    folder = resolve(args.model)
    estimator, manifest = load_model(folder)
    columns = {"model": offence_weights(estimator, args.words)}
    if args.words_only:
        columns["words only"] = offence_weights(_words_only(manifest, args.corpus), args.words)
    counts = {}
    if args.in_context:
        columns["in context"], counts = _in_context(folder, args.corpus, args.words)
    print(f"model {manifest['version']}: the pull of each word toward an offence (log-odds; + toward an offence)")
    print(f"  {'word':12}" + "".join(f"{name:>14}" for name in columns))
    for word in args.words:
        cells = ["not in vocab." if c[word] is None else f"{c[word]:+.3f}" for c in columns.values()]
        print(f"  {word:12}" + "".join(f"{cell:>14}" for cell in cells)
              + (f"   ({counts[word]} train logs)" if word in counts else ""))


def _words_only(manifest: dict, corpus: Path):
    """The manifest's settings without the rule features, trained on `corpus` in a temporary folder."""
    import tempfile

    from classifier.model_versions import load_model
    from classifier.model import manifest_settings
    from classifier.pipeline.ruleset import load_rules
    from classifier.training.train import train_model

    settings = {**manifest_settings(manifest), "use_rules": False, "use_floor_feature": False,
                "rule_probabilities": False}
    with tempfile.TemporaryDirectory() as root:
        version = train_model(corpus, load_rules(), settings=settings, root=Path(root))
        estimator, _ = load_model(version.folder)
    return estimator


def _in_context(folder: Path, corpus: Path, words) -> tuple[dict, dict]:
    """Each word's mean change in the model's log-odds of any offence when its plain uses leave the train logs
    that hold it (None where no train log holds it plainly), and how many logs that was."""
    import numpy as np
    from scipy.special import logsumexp

    from classifier.corpus import load_corpus
    from classifier.labels import NONE
    from classifier.pipeline.ruleset import load_rules
    from classifier.scoring.analysis import analyse, marked_words
    from classifier.scoring.scorers import ModelScorer

    scorer = ModelScorer(load_rules(), folder)
    texts = [row["text"] for row in load_corpus(corpus, ("train",))]
    docs = list(scorer.rule_scorer.docs(texts))
    linear = scorer.estimator.named_steps["classify"].estimator_
    none = list(linear.classes_).index(NONE)

    def log_odds(records: list[dict]) -> np.ndarray:
        # The linear scores, not the calibrated probabilities: exact, and not flattened where they saturate.
        z = np.atleast_2d(linear.decision_function(scorer.model_features(records)))
        return logsumexp(np.delete(z, none, axis=1), axis=1) - z[:, none]

    marked = [marked_words(doc) for doc in docs]
    pull, counts = {}, {}
    for word in words:
        # The log without the word is rebuilt from the doc's own tokens, so the two differ only by the word.
        holding = [(doc, {i for w, i in doc_words if w == word}) for doc, doc_words in zip(docs, marked)]
        holding = [(doc, drop) for doc, drop in holding if drop]
        counts[word] = len(holding)
        if not holding:
            pull[word] = None
            continue
        without = ["".join(t.text_with_ws for t in doc if t.i not in drop) for doc, drop in holding]
        before = log_odds([analyse(doc) for doc, _ in holding])
        after = log_odds([analyse(d) for d in scorer.rule_scorer.docs(without)])
        pull[word] = float(np.mean(before - after))
    return pull, counts


if __name__ == "__main__":
    main()
