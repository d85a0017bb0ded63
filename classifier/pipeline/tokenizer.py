"""Tokenizer for police logs: the English defaults plus shorthand kept whole (`b/f`, `s.47`, `w/`)."""

from __future__ import annotations

from collections.abc import Iterable

import spacy
from spacy.attrs import ORTH
from spacy.util import compile_infix_regex


@spacy.registry.tokenizers("incident_classifier.log_tokenizer.v1")
def create_log_tokenizer():
    def make(nlp):
        tokenizer = spacy.util.registry.tokenizers.get("spacy.Tokenizer.v1")()(nlp)
        # Logs run sentences together: "hit her.She left", "pushed/shoved", "IP+SUSP". Split there.
        infixes = list(nlp.Defaults.infixes) + [r"(?<=[a-z])\.(?=[A-Z][a-z])", r"(?<=[A-Za-z])[/+](?=[A-Za-z]{3,})"]
        tokenizer.infix_finditer = compile_infix_regex(infixes).finditer
        return tokenizer

    return make


def add_special_cases(tokenizer, forms: Iterable[str]) -> None:
    """Keep each form (and its lower, upper and title case) as a single token."""
    for form in forms:
        for variant in {form, form.lower(), form.upper(), form.title()}:
            tokenizer.add_special_case(variant, [{ORTH: variant}])
