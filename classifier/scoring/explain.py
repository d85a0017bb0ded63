"""A readable account of how the pipeline read one log, for a reviewer or a rule writer."""

from __future__ import annotations

from classifier.scoring.analysis import analyse
from classifier.scoring.floor import RULES_FLAG, held_by_rules
from classifier.scoring.model_terms import describe, is_model_item
from classifier.labels import LABELS
from classifier.pipeline.extensions import ENTRIES_KEY, TRIGGERS_KEY
from classifier.pipeline.tokenizer import source_span
from classifier.pipeline.ruleset import is_excluded


def explain_text(scorer, text: str) -> str:
    """`scorer` is a RuleScorer or a ModelScorer; a model's verdict is shown beside the rules'."""
    rule_scorer = getattr(scorer, "rule_scorer", scorer)
    doc = rule_scorer.nlp(text)
    out: list[str] = []
    out.append("ENTRIES AND SENTENCES")
    for n, entry in enumerate(doc.spans[ENTRIES_KEY]):
        out.append(f"  entry {n}:")
        for sent in entry.sents:
            if sent.text.strip():
                out.append(f"    | {sent.text.strip()}")
    out.append("TOKENS (text / norm / lemma, where they differ)")
    shown = [f"{t.text}" + (f"/{t.norm_}" if t.norm_ != t.lower_ else "") + (f"/{t.lemma_}" if t.lemma_ not in (t.lower_, t.norm_) else "")
             for t in doc if not t.is_space]
    out.append("  " + " ".join(shown))
    out.append("CONTEXT TRIGGERS")
    triggers = doc.spans[TRIGGERS_KEY] if TRIGGERS_KEY in doc.spans else []
    for trigger in triggers:
        start, end, text = source_span(doc, trigger.start_char, trigger.end_char)
        out.append(f"  {text!r} at {start}-{end}")
    if not triggers:
        out.append("  (none)")
    out.append("CUES")
    for e in doc._.evidence:
        state = "excluded" if is_excluded(e["context"]) else "counts"
        out.append(f"  [{state}] {e['rule']} -> {e['label']} ({e['kind']}): {e['text']!r} at {e['start']}-{e['end']}, entry {e['entry']}")
        for t in e["triggers"]:
            out.append(f"      {t['category']} by {t['rule']}: {t['text']!r}")
    if not doc._.evidence:
        out.append("  (none)")
    rules_verdict = rule_scorer.score_docs([doc])[0]
    out.append("FLOOR")
    if doc._.floor:
        out.append("  " + ", ".join(doc._.floor) + ": a cue of weight >= 0.8 that nothing excludes; always flagged")
    elif scorer is not rule_scorer and held_by_rules([analyse(doc)])[0]:
        out.append(f"  no cue of weight >= 0.8, but the rules alone flag it ({rules_verdict['confidence']:.3f} >= "
                   f"{RULES_FLAG}): flagged at least at the model's threshold")
    else:
        out.append("  (none)")
    verdicts = [("rules", rules_verdict, rule_scorer.threshold)]
    if scorer is not rule_scorer:
        own = dict(zip(LABELS, map(float, scorer.model_proba([analyse(doc)])[0])))
        verdicts.append((f"model {scorer.model_name} alone", {"label": "-", "confidence": 1.0 - own["none"],
                                                              "probabilities": own}, scorer.threshold))
        verdicts.append((f"model {scorer.model_name} with the floor", scorer.score_docs([doc])[0], scorer.threshold))
    out.append("VERDICT")
    for name, record, threshold in verdicts:
        decided = f"  decided by {record['decided_by']}" if "decided_by" in record else ""
        out.append(f"  {name}: {record['label']}  confidence {record['confidence']:.3f} "
                   f"(threshold {threshold:.3f}){decided}")
        out.append("    " + "  ".join(f"{label} {record['probabilities'][label]:.3f}" for label in LABELS))
    if scorer is not rule_scorer:
        in_evidence = any(is_model_item(e) for e in verdicts[-1][1]["evidence"])
        out.append("MODEL TERMS (what pulls this log toward an offence: log-odds beyond a typical log)")
        terms = scorer.model_terms([doc])[0]
        for e in terms:
            out.append(f"  {describe(e)}: {e['text']!r} at {e['start']}-{e['end']}, entry {e['entry']}")
        if not terms:
            out.append("  (none)")
        out.append("  in the evidence: " + ("yes, the model decided and no rule cue counts" if in_evidence
                                            else "no, only where the model decides and no rule cue counts"))
    return "\n".join(out)
