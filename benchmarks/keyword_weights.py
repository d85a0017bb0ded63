"""How far each plain offence word pulls a log toward an offence in a trained model's word features.

    python benchmarks/keyword_weights.py [--model VERSION|FOLDER] [WORD ...]

For each word (a lemma, as the word features read it), `classifier.model.offence_weights`: the change in the
log-odds of "any offence" against `none` that the word adds. A corpus whose `none` logs carry offence words
more often than its offences do teaches negative weights here; real records are the other way round (see
`shared/real-shape.md`). The rule features, which already count an active cue, are not included: this is what
the words add beyond them.
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
    args = parser.parse_args()

    from classifier.artefacts import load_model, resolve
    from classifier.model import offence_weights

    folder = resolve(args.model)
    estimator, manifest = load_model(folder)
    print(f"model {manifest['version']}: the pull of each word toward an offence (log-odds; + toward an offence)")
    for word, weight in offence_weights(estimator, args.words).items():
        print(f"  {word:12} {'not in the vocabulary' if weight is None else f'{weight:+.3f}'}")


if __name__ == "__main__":
    main()
