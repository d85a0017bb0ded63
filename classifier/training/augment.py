"""Label-preserving rewrites of training logs: the same event told in another voice.

A model trained on one corpus learns how its writers write as well as what happened. Each rewrite below keeps
what happened (and so the label) and changes how it is told, so that the model sees each disclosure in more
than one voice: `gender` swaps the sexes of the people, `person` retells a first-person account in the third
person, `shorthand` turns prose into control-room shorthand and shorthand into prose, `us_uk` swaps British
and American police words. They are word-for-word substitutions, not paraphrases: crude, but they cannot
invent an offence or remove one. Which rewrites the model trains on is a setting (`augment`), chosen by the
style-shift benchmark (`benchmarks/style_shift.py`), not by hand.
"""

from __future__ import annotations

import re

KINDS = ("gender", "person", "shorthand", "us_uk")

_GENDER_PAIRS = [
    ("he", "she"), ("himself", "herself"), ("man", "woman"), ("men", "women"), ("male", "female"),
    ("males", "females"), ("boy", "girl"), ("boys", "girls"), ("boyfriend", "girlfriend"), ("husband", "wife"),
    ("father", "mother"), ("dad", "mum"), ("son", "daughter"), ("sons", "daughters"), ("brother", "sister"),
    ("uncle", "aunt"), ("grandad", "nan"), ("grandfather", "grandmother"), ("mr", "ms"), ("lad", "lass"),
    ("gentleman", "lady"), ("bf", "gf"), ("stepfather", "stepmother"), ("stepdad", "stepmum"),
    ("nephew", "niece"), ("king", "queen"),
]
_GENDER = {**{a: b for a, b in _GENDER_PAIRS}, **{b: a for a, b in _GENDER_PAIRS}}
# "her" is "him" as an object and "his" before a noun; "his" is always "her".
_NOT_A_NOUN = {"to", "and", "or", "in", "on", "at", "with", "by", "for", "from", "of", "off", "up", "down", "out",
               "over", "into", "onto", "that", "the", "a", "an", "as", "again", "back", "twice", "once", "about",
               "because", "but", "so", "if", "when", "while", "after", "before", "until", "then", "there", "here",
               "this", "it", "he", "she", "they", "i", "we", "you", "not", "no", "is", "was", "were", "are",
               "even", "alone", "anyway", "home", "now", "too", "also", "though", "although", "yet", "still", "away",
               "around", "round", "hard", "badly", "just", "repeatedly", "every", "all", "through", "across",
               "against", "during", "without", "since", "till", "where", "who", "which", "what", "how", "why",
               "several", "multiple", "unconscious", "senseless", "outside", "inside", "behind", "near", "twice"}

_PERSON = [
    (r"\bI am\b", "the caller is"), (r"\bI'm\b", "the caller is"), (r"\bI was\b", "the caller was"),
    (r"\bI've\b", "the caller has"), (r"\bI have\b", "the caller has"), (r"\bI'd\b", "the caller had"),
    (r"\bI'll\b", "the caller will"), (r"(?<![\w/])I(?![\w/])", "the caller"), (r"\bmyself\b", "themself"),
    (r"\bme\b", "the caller"), (r"\bmy\b", "the caller's"), (r"\bmine\b", "the caller's"),
    (r"\bwe\b", "the caller and family"), (r"(?-i:\bus\b)", "the caller and family"), (r"\bour\b", "their"),
]

_SHORT = [  # prose -> shorthand; the reverse maps shorthand -> prose
    ("injured party", "IP"), ("the victim", "IP"), ("victim", "IP"), ("the suspect", "SUSP"), ("suspect", "SUSP"),
    ("reporting person", "RP"), ("the caller", "RP"), ("caller", "RP"), ("without", "W/O"), ("with", "W/"),
    ("no further action", "NFA"), ("ambulance", "AMB"), ("hospital", "HOSP"), ("injuries", "INJS"),
    ("injury", "INJ"), ("boyfriend", "BF"), ("girlfriend", "GF"), ("approximately", "APPROX"),
    ("vehicle", "VEH"), ("officers", "OFFRS"), ("officer", "OFFR"), ("domestic", "DOM"), ("address", "ADDR"),
    ("towards", "TWDS"), ("information", "INFO"), ("describes", "DESCS"), ("states", "STS"), ("says", "STS"),
    ("because", "BC"), ("and", "&"), ("years old", "YO"), ("police", "POL"), ("unknown", "UNK"),
    ("left the scene", "L/S"), ("arrested", "ARR"), ("advised", "ADV"),
]
_PROSE = [(short, long) for long, short in _SHORT if long not in ("caller", "says", "suspect", "victim", "the caller")]

_US = [  # UK -> US; the reverse maps US -> UK
    ("common assault", "simple assault"), ("mobile phone", "cell phone"), ("mobile", "cell phone"), ("mum", "mom"),
    ("flat", "apartment"), ("pavement", "sidewalk"), ("car park", "parking lot"), ("A&E", "the ER"),
    ("the IP", "V1"), ("IP", "V1"), ("the suspect", "S1"), ("the caller", "the RP"), ("caller", "RP"),
    ("hit", "struck"), ("punched", "struck"), ("arrested", "booked"), ("motorway", "freeway"),
    ("petrol station", "gas station"), ("off-licence", "liquor store"), ("shop", "store"), ("taxi", "cab"),
    ("neighbour", "neighbor"), ("offence", "offense"), ("police officers", "deputies"),
    ("lorry", "truck"), ("rubbish", "trash"), ("garden", "yard"), ("ambulance", "EMS"),
]
_UK = [(us, uk) for uk, us in _US if uk not in ("mobile", "caller", "IP", "punched")]


def _case_like(word: str, model: str) -> str:
    # An upper-case word is shouting or shorthand; an abbreviation such as "V1" or "RP" says nothing of case.
    if model.isupper() and model.isalpha() and len(model) > 2:
        return word.upper()
    if model.isupper() and (len(model) <= 2 or not model.isalpha()):
        return word
    if model[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def _swap_gender(text: str) -> str:
    tokens = re.split(r"(\W+)", text)
    out = []
    for i, token in enumerate(tokens):
        low = token.lower()
        if low == "her":
            following = next((t.lower() for t in tokens[i + 1:] if t.strip() and re.match(r"\w", t)), "")
            gap = tokens[i + 1] if i + 1 < len(tokens) else ""
            noun_next = following and following not in _NOT_A_NOUN and gap.strip() == ""
            out.append(_case_like("his" if noun_next else "him", token))
        elif low in ("him", "his"):
            out.append(_case_like("her", token))
        elif low in _GENDER:
            out.append(_case_like(_GENDER[low], token))
        else:
            out.append(token)
    return "".join(out)


def _substitute(text: str, pairs, *, ignore_case: bool = True) -> str:
    # One pass over the text with every pattern, longest first, so that a replacement is never replaced again.
    ordered = sorted(pairs, key=lambda p: -len(p[0]))
    pattern = re.compile("|".join(rf"(?<![\w&/]){re.escape(a)}(?![\w&/])" for a, _ in ordered),
                         re.IGNORECASE if ignore_case else 0)
    lookup = {a.lower(): b for a, b in ordered}

    def replace(match):
        found = match.group(0)
        new = lookup[found.lower()]
        return new if new.isupper() else _case_like(new, found)

    return pattern.sub(replace, text)


def _person(text: str) -> str:
    for pattern, new in _PERSON:
        text = re.sub(pattern, lambda m, new=new: _case_like(new, m.group(0)) if m.group(0) != "I" else new, text,
                      flags=0 if "I" in pattern else re.IGNORECASE)
    return text


def _shorthand(text: str) -> str:
    letters = [c for c in text if c.isalpha()]
    if letters and sum(c.isupper() for c in letters) / len(letters) > 0.6:
        prose = _substitute(text, _PROSE, ignore_case=False).lower()
        return re.sub(r"(^|[.!?]\s+)(\w)", lambda m: m.group(1) + m.group(2).upper(), prose)
    return _substitute(text, _SHORT).upper()


def _us_uk(text: str) -> str:
    us_words = sum(len(re.findall(rf"(?<!\w){re.escape(us)}(?!\w)", text, re.IGNORECASE)) for _, us in _US)
    uk_words = sum(len(re.findall(rf"(?<!\w){re.escape(uk)}(?!\w)", text, re.IGNORECASE)) for uk, _ in _US)
    return _substitute(text, _UK) if us_words > uk_words else _substitute(text, _US)


_REWRITES = {"gender": _swap_gender, "person": _person, "shorthand": _shorthand, "us_uk": _us_uk}


def rewrite(text: str, kind: str) -> str:
    """`text` retold by one rewrite (see KINDS); unchanged when the rewrite finds nothing to change."""
    if kind not in _REWRITES:
        raise ValueError(f"rewrite {kind!r} is not one of: {', '.join(KINDS)}")
    return _REWRITES[kind](text)


def variants(text: str, kinds) -> list[str]:
    """The distinct rewrites of `text` by each of `kinds` that change it."""
    out = []
    for kind in kinds:
        new = rewrite(text, kind)
        if new != text and new not in out:
            out.append(new)
    return out
