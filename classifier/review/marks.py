"""A log cut at its evidence: the pieces that the terminal and the HTML page each mark up in their own way."""

from __future__ import annotations

from collections.abc import Iterator


def evidence_pieces(text: str, evidence: list[dict]) -> Iterator[tuple[str, dict | None]]:
    """(piece of text, the evidence item it is the words of, or None), in order, covering the whole text.

    Where cues overlap, the one that starts first (the longer, at the same start) covers the span.
    """
    pos = 0
    for item in sorted(evidence, key=lambda e: (e["start"], -e["end"])):
        if item["start"] < pos:
            continue
        if item["start"] > pos:
            yield text[pos:item["start"]], None
        yield text[item["start"]:item["end"]], item
        pos = item["end"]
    if pos < len(text):
        yield text[pos:], None
