"""What reviewers see and what their decisions add up to: the log with its evidence, and review statistics."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import click

from classifier.pipeline.ruleset import is_excluded
from classifier.review.marks import evidence_pieces
from classifier.scoring.model_terms import describe, is_model_item

CONFIDENCE_BANDS = ((0.0, 0.5), (0.5, 0.7), (0.7, 0.9), (0.9, 1.01))


def render_flag(flag, reviews, *, colour: bool = True) -> str:
    """The log with every cue highlighted (counting cues bold, excluded ones dim) and the triggers named; the
    model's terms (evidence of kind `model`) underlined, or in {{ }} without colour."""
    text = flag["text"]
    evidence = json.loads(flag["evidence"])
    out = []
    for piece, item in evidence_pieces(text, evidence):
        if item is not None and is_model_item(item):
            piece = click.style(piece, fg="cyan", underline=True) if colour else f"{{{{{piece}}}}}"
        elif item is not None:
            excluded = is_excluded(item["context"])
            if colour:
                piece = click.style(piece, fg="yellow" if excluded else "red", bold=not excluded, dim=excluded)
            else:
                piece = f"[[{piece}]]" if not excluded else f"[({piece})]"
        out.append(piece)
    lines = [
        f"{flag['incident_id']}  {flag['label']}  confidence {flag['confidence']:.3f}  band {flag['band']}  "
        f"decided by {flag['decided_by'] or '-'}  status {flag['status']}",
        f"opened {flag['opened_at'] or '-'} as {flag['opening_code'] or '-'}; closed as {flag['closing_code'] or '-'}",
        f"reason: {flag['reason']}" + (f"; {flag['closing_code_conflict']}" if flag["closing_code_conflict"] else ""),
        f"linked crimes: {', '.join(json.loads(flag['linked_crimes'])) or 'none'}; model {flag['model']}",
        "",
        "".join(out),
        "",
        "evidence:",
    ]
    for e in evidence:
        if is_model_item(e):
            lines.append(f"  [model] {describe(e)} -> {e['label']}: {e['text']!r}")
            continue
        state = "excluded" if is_excluded(e["context"]) else "counts"
        triggers = "; ".join(f"{t['category']} by {t['rule']} ({t['text']!r})" for t in e.get("triggers", []))
        lines.append(f"  [{state}] {e['rule']} -> {e['label']}: {e['text']!r}" + (f"  [{triggers}]" if triggers else ""))
    for r in reviews:
        lines.append(f"review {r['reviewed_at']} by {r['reviewer']}: {r['outcome']}"
                     + (f" ({r['label']})" if r["label"] else "") + (f": {r['note']}" if r["note"] else ""))
    return "\n".join(lines)


def review_stats(store) -> dict:
    counts = store.status_counts()
    reviews = store.reviews()
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
    return {"flags": counts, "reviews": dict(outcomes), "by_confidence": by_band, "agreement": agreement,
            "audit": audits}


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
    """Where two different reviewers decided the same incident: their first decisions compared."""
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
