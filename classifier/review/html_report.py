"""A self-contained HTML page of the open flags: no server, no network, usable offline on a force laptop."""

from __future__ import annotations

import html
import json

from classifier.clock import now
from classifier.pipeline.ruleset import is_excluded
from classifier.review.marks import evidence_pieces
from classifier.scoring.model_terms import describe, is_model_item

STYLE = """
body{font-family:system-ui,Segoe UI,Arial,sans-serif;margin:1.5em;color:#222;max-width:70em}
h1{font-size:1.4em} .meta{color:#555;font-size:.9em}
.flag{border:1px solid #ccc;border-radius:6px;padding:.8em 1em;margin:1em 0}
.flag h2{font-size:1.05em;margin:0 0 .3em} .likely{border-left:6px solid #b00020} .review{border-left:6px solid #e0a000}
pre{white-space:pre-wrap;background:#fafafa;padding:.6em;border-radius:4px;font-size:.92em}
mark.cue{background:#ffd6d6;font-weight:bold;padding:0 .1em} mark.excluded{background:#eee;color:#777;text-decoration:line-through}
mark.model{background:#dcebff;border-bottom:2px dotted #3060a0;padding:0 .1em}
table{border-collapse:collapse;font-size:.88em} td,th{border:1px solid #ddd;padding:.2em .5em;text-align:left}
.filter{margin:.5em 0} label{margin-right:1em}
"""

SCRIPT = """
function applyFilter(){var l=document.getElementById('label').value;
document.querySelectorAll('.flag').forEach(function(f){f.style.display=(!l||f.dataset.label===l)?'':'none';});}
"""


def highlight(text: str, evidence: list[dict]) -> str:
    out = []
    for piece, e in evidence_pieces(text, evidence):
        if e is None:
            out.append(html.escape(piece))
            continue
        if is_model_item(e):
            out.append(f'<mark class="model" title="{html.escape(describe(e) + " -> " + e["label"])}">'
                       f'{html.escape(piece)}</mark>')
            continue
        title = f"{e['rule']} -> {e['label']}" + (f" ({', '.join(e['context'])})" if e["context"] else "")
        out.append(f'<mark class="{"excluded" if is_excluded(e["context"]) else "cue"}" title="{html.escape(title)}">'
                   f'{html.escape(piece)}</mark>')
    return "".join(out)


def evidence_table(evidence: list[dict]) -> str:
    """Each cue or model term: rule, label, words, context (or the model's weight), triggers."""
    rows = "".join(
        f"<tr><td>{html.escape(e['rule'])}</td><td>{html.escape(e['label'])}</td><td>{html.escape(e['text'])}</td>"
        f"<td>{html.escape(describe(e) if is_model_item(e) else ', '.join(e['context']) or 'counts')}</td>"
        f"<td>{html.escape('; '.join(t['rule'] + ': ' + t['text'] for t in e.get('triggers', [])))}</td></tr>"
        for e in evidence
    )
    return ("<table><tr><th>rule</th><th>label</th><th>words</th><th>context</th><th>trigger</th></tr>"
            f"{rows}</table>")


def flag_body(f) -> str:
    """One flag as the report and the review web page both show it: codes and reason, the log with its cues
    marked (excluded ones struck through, the model's terms underlined), and the evidence table. Every value
    from the store is escaped."""
    evidence = json.loads(f["evidence"])
    conflict = f"<br>{html.escape(f['closing_code_conflict'])}" if f["closing_code_conflict"] else ""
    return (f'<div class="meta">opened {html.escape(f["opened_at"] or "-")} as {html.escape(f["opening_code"] or "-")}; '
            f"closed as {html.escape(f['closing_code'] or '-')}; {html.escape(f['reason'])}{conflict}</div>"
            f"<pre>{highlight(f['text'], evidence)}</pre>{evidence_table(evidence)}")


def render_report(flags, *, title: str = "Open flags") -> str:
    made = now()
    labels = sorted({f["label"] for f in flags})
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style><script>{SCRIPT}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="meta">{len(flags)} open flags, most valuable first. Made {made}. Contains incident text: '
        "handle as OFFICIAL-SENSITIVE.</p>",
        '<div class="filter"><label>Label <select id="label" onchange="applyFilter()"><option value="">all</option>'
        + "".join(f'<option value="{html.escape(l)}">{html.escape(l)}</option>' for l in labels)
        + "</select></label></div>",
    ]
    for f in flags:
        parts.append(
            f'<div class="flag {html.escape(f["band"] or "review")}" data-label="{html.escape(f["label"])}" '
            f'id="{html.escape(f["incident_id"])}">'
            f"<h2>{html.escape(f['incident_id'])} &middot; {html.escape(f['label'])} &middot; confidence "
            f"{f['confidence']:.3f} &middot; {html.escape(f['band'] or '')}</h2>"
            f"{flag_body(f)}</div>"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
