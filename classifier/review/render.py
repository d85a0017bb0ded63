"""What reviewers see and what their decisions add up to: the log with its evidence, and review statistics."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict

import click

from classifier.pipeline.ruleset import is_excluded
from classifier.review.marks import evidence_pieces
from classifier.review.store import current_decisions
from classifier.scoring.model_terms import describe, is_model_item

CONFIDENCE_BANDS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.01))

# What a log may hold that a terminal would obey rather than show: C0 controls but tab and newline (a carriage
# return rewrites the line it is on), DEL, C1 controls (CSI among them) and the bidirectional overrides that
# reorder what is shown.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile("[\t\n]")


def printable(text: str | None) -> str:
    """`text` safe for a terminal: control characters removed, newlines and tabs kept."""
    return _CONTROL.sub("", text or "")


def one_line(text: str | None) -> str:
    """`text` safe for one cell of a listing: control characters removed, newlines and tabs made spaces."""
    return _LINE_BREAKS.sub(" ", printable(text))


def render_flag(flag, reviews, *, colour: bool = True) -> str:
    """The log with every cue highlighted (counting cues bold, excluded ones dim) and the triggers named; the
    model's terms (evidence of kind `model`) underlined, or in {{ }} without colour.

    Control characters in the log and the other stored values are removed (newlines and tabs kept), so a log
    cannot drive the reviewer's terminal; only this function's own colours reach it.
    """
    text = flag["text"]
    evidence = json.loads(flag["evidence"])
    out = []
    for piece, item in evidence_pieces(text, evidence):
        # Cut first, clean after: the evidence offsets index the stored text.
        piece = printable(piece)
        if item is not None and is_model_item(item):
            piece = click.style(piece, fg="cyan", underline=True) if colour else f"{{{{{piece}}}}}"
        elif item is not None:
            excluded = is_excluded(item["context"])
            if colour:
                piece = click.style(piece, fg="yellow" if excluded else "red", bold=not excluded, dim=excluded)
            else:
                piece = f"[[{piece}]]" if not excluded else f"[({piece})]"
        out.append(piece)
    f = {k: one_line(str(flag[k])) if flag[k] is not None else None for k in flag.keys() if k != "text"}
    lines = [
        f"{f['incident_id']}  {f['label']}  confidence {flag['confidence']:.3f}  band {f['band']}  "
        f"decided by {f['decided_by'] or '-'}  status {f['status']}",
        f"opened {f['opened_at'] or '-'} as {f['opening_code'] or '-'}; closed as {f['closing_code'] or '-'}",
        f"reason: {f['reason']}" + (f"; {f['closing_code_conflict']}" if f["closing_code_conflict"] else ""),
        f"linked crimes: {one_line(', '.join(json.loads(flag['linked_crimes']))) or 'none'}; model {f['model']}",
        "",
        "".join(out),
        "",
        "evidence:",
    ]
    for e in evidence:
        if is_model_item(e):
            lines.append(f"  [model] {one_line(describe(e))} -> {e['label']}: {one_line(e['text'])!r}")
            continue
        state = "excluded" if is_excluded(e["context"]) else "counts"
        triggers = "; ".join(f"{t['category']} by {t['rule']} ({one_line(t['text'])!r})" for t in e.get("triggers", []))
        lines.append(f"  [{state}] {e['rule']} -> {e['label']}: {one_line(e['text'])!r}"
                     + (f"  [{triggers}]" if triggers else ""))
    counting = {r["id"] for r in current_decisions(reviews)}
    for r in reviews:
        lines.append(f"review {one_line(r['reviewed_at'])} by {one_line(r['reviewer'])}: {r['outcome']}"
                     + (f" ({r['label']})" if r["label"] else "") + (f": {one_line(r['note'])}" if r["note"] else "")
                     + ("" if r["id"] in counting else "  [replaced by the reviewer's later decision]"))
    return "\n".join(lines)


def review_stats(store) -> dict:
    """Counts of flags and of the decisions that count (each reviewer's latest on each flag), precision by
    confidence band, reviewer agreement and the audit samples' estimates."""
    counts = store.status_counts()
    history = store.reviews()
    reviews = current_decisions(history)
    outcomes = Counter(r["outcome"] for r in reviews)
    by_band = []
    decided = store.decided_flags()
    for low, high in CONFIDENCE_BANDS:
        rows = [d for d in decided if low <= d["confidence"] < high]
        offence = sum(d["outcome"] in ("crime", "already_recorded") for d in rows)
        missed = sum(d["outcome"] == "crime" for d in rows)
        by_band.append({"confidence": f"{low:.1f}-{min(high, 1.0):.1f}", "decided": len(rows),
                        "offence_precision": offence / len(rows) if rows else None,
                        "missed_crime_rate": missed / len(rows) if rows else None})
    agreement = reviewer_agreement(reviews)
    confirmed = sum(d["outcome"] in ("crime", "already_recorded") for d in decided)
    audits = [missed_offence_estimate(a, confirmed) for a in store.audit_results()]
    return {"flags": counts, "reviews": dict(outcomes), "replaced": len(history) - len(reviews),
            "by_confidence": by_band, "agreement": agreement, "audit": audits}


def missed_offence_estimate(audit: dict, confirmed_flagged: int) -> dict:
    """From a decided random sample of unflagged incidents: how many offences the scan misses.

    The rate among unflagged incidents gets a 95% Wilson interval; scaled to the unflagged population it
    estimates the offences missed, and beside the offences confirmed among flags, the share missed.
    """
    from classifier.evaluation.metrics import wilson_interval

    out = dict(audit)
    if not audit["decided"]:
        return out
    rate = audit["offences"] / audit["decided"]
    low, high = wilson_interval(audit["offences"], audit["decided"])
    missed = [rate * audit["population"], low * audit["population"], high * audit["population"]]

    def share(m):
        return m / (m + confirmed_flagged) if m + confirmed_flagged else 0.0

    out.update({"rate": rate, "rate_95": [low, high], "missed_estimate": missed[0], "missed_95": missed[1:],
                "share_missed": share(missed[0]), "share_missed_95": [share(missed[1]), share(missed[2])],
                "confirmed_flagged": confirmed_flagged})
    return out


def reviewer_agreement(reviews) -> dict:
    """Where two different reviewers decided the same incident: their decisions compared.

    reviews: `current_decisions`, so a reviewer who decided again is compared by their latest decision.
    """
    first_two: dict[str, list] = defaultdict(list)
    for r in reviews:
        decisions = first_two[r["incident_id"]]
        if len(decisions) < 2 and all(d["reviewer"] != r["reviewer"] for d in decisions):
            decisions.append(r)
    pairs = [(a, b) for a, b in (d for d in first_two.values() if len(d) == 2)]
    if not pairs:
        return {"pairs": 0}
    agree = sum(a["outcome"] == b["outcome"] and (a["label"] or "") == (b["label"] or "") for a, b in pairs)
    from sklearn.metrics import cohen_kappa_score

    left = [f"{a['outcome']}:{a['label'] or ''}" for a, _ in pairs]
    right = [f"{b['outcome']}:{b['label'] or ''}" for _, b in pairs]
    kappa = cohen_kappa_score(left, right) if len(set(left + right)) > 1 else 1.0
    return {"pairs": len(pairs), "agree": agree, "kappa": round(float(kappa), 3)}
