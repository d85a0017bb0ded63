"""The rule pipeline: spaCy's blank English with log-aware components, all registered factories.

tokenizer (shorthand kept whole) -> log_normalizer (lemmas from the lookup tables of spacy-lookups-data, and
shorthand) -> log_segmenter -> offence_cues -> cue_context -> incident_scorer
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from spacy.language import Language

    from classifier.pipeline.ruleset import RuleSet

PIPE_NAMES = ("log_normalizer", "log_segmenter", "offence_cues", "cue_context", "incident_scorer")


def build_pipeline(rules: RuleSet) -> Language:
    # spaCy and the components (which register their factories) are imported here, not with the package: a
    # process that only reads the rule files (the parent of a scan's workers) then starts without them.
    import spacy

    from classifier.pipeline import context, cues, extensions, normalizer, scorer, segmenter, tokenizer  # noqa: F401
    from classifier.pipeline.tokenizer import add_special_cases

    nlp = spacy.blank("en", config={"nlp": {"tokenizer": {"@tokenizers": "incident_classifier.log_tokenizer.v1"}}})
    add_special_cases(nlp.tokenizer, [v for n in rules.normalisation if n.keep_whole for v in n.variants])
    for name in PIPE_NAMES:
        nlp.add_pipe(name)
    nlp.initialize()
    nlp.get_pipe("log_normalizer").add_variants((v, n.norm) for n in rules.normalisation for v in n.variants)
    nlp.get_pipe("offence_cues").add_rules(rules.cues)
    nlp.get_pipe("cue_context").add_rules(rules.context)
    return nlp
