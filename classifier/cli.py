"""The `incident-classifier` command."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from classifier import __version__
from classifier.errors import InputError, ModelError, RuleError
from classifier.io.readers import Reject, read_crimes, read_incidents
from classifier.io.writers import FLAG_COLUMNS, REJECT_COLUMNS, SCORE_COLUMNS, STDOUT, RecordWriter

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="incident-classifier")
def cli():
    """Find violent and sexual offences in incident logs that have no crime record.

    Reads free-text incident logs (CSV or JSON Lines), scores each for the six labels of the Home Office
    Counting Rules families this tool covers, and flags the ones no linked crime record covers, each with
    the words, the rule and the context that raised it.
    """


def user_errors(func):
    """Turn a user's mistake into a one-line error and a non-zero exit, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (InputError, RuleError, ModelError) as exc:
            raise click.ClickException(str(exc)) from None
        except BrokenPipeError:
            sys.stderr.close()

    return wrapper


def rules_option(func):
    return click.option("--rules", "rules_path", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="A folder of rule files to use instead of the shipped rules.")(func)


def input_options(func):
    func = click.option("--encoding", default="utf-8", show_default=True,
                        help="Text encoding of the input files (e.g. cp1252, latin-1); a BOM is always allowed.")(func)
    func = rules_option(func)
    func = click.option("--rejects", "rejects_path", default=None,
                        help="Where to write rows that cannot be used, with the reason "
                             "[default: beside the output as NAME.rejects.jsonl; with -o -, in the current folder].")(func)
    return func


def _rejects_target(rejects_path: str | None, output: str, source: Path) -> str:
    if rejects_path:
        return rejects_path
    # With output on stdout there is no output folder: the rejects go to the current one.
    base = Path(source.name) if output == STDOUT else Path(output)
    return str(base.with_name(base.name.split(".")[0] + ".rejects.jsonl"))


def _load_rules(rules_path):
    from classifier.ruleset import load_rules

    return load_rules(rules_path)


def model_options(func):
    func = click.option("--rules-only", is_flag=True,
                        help="Score with the rules alone, without the trained model.")(func)
    func = click.option("--model", "model", default=None,
                        help="A model version (name under models/) or folder [default: the current model].")(func)
    return func


def _scorer(rules_path, model, rules_only):
    """The scorer to use and the model manifest (None for the rules alone)."""
    from classifier.scoring import ModelScorer, RuleScorer

    rules = _load_rules(rules_path)
    if rules_only:
        return RuleScorer(rules), None
    from classifier.artefacts import resolve

    scorer = ModelScorer(rules, resolve(model))
    return scorer, scorer.manifest


def _report(message: str) -> None:
    click.echo(message, err=True)


@cli.command()
@click.argument("incidents", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, help="Scores file (.jsonl or .csv), or - for standard output.")
@input_options
@model_options
@user_errors
def classify(incidents, output, encoding, rules_path, rejects_path, model, rules_only):
    """Score every incident in INCIDENTS: label, confidence, six probabilities and the evidence."""
    scorer, _ = _scorer(rules_path, model, rules_only)
    rejects_target = _rejects_target(rejects_path, output, incidents)
    with RecordWriter(rejects_target, columns=REJECT_COLUMNS) as rejects, \
            RecordWriter(output, columns=SCORE_COLUMNS) as out:
        on_reject = _reject_sink(rejects)
        for _, score in scorer.score(read_incidents(incidents, encoding=encoding, on_reject=on_reject)):
            out.write(score)
    _report(f"scored {out.count} incidents; {rejects.count} rows rejected (written to {rejects_target})")


def _reject_sink(writer: RecordWriter):
    def sink(reject: Reject) -> None:
        writer.write(reject.to_dict())

    return sink


@cli.command()
@click.argument("incidents", type=click.Path(path_type=Path))
@click.option("--crimes", required=True, type=click.Path(path_type=Path),
              help="Crime records (.csv or .jsonl) with crime_id and the incident_id they are linked to.")
@click.option("-o", "--output", required=True, help="Flags file (.jsonl or .csv), or - for standard output.")
@click.option("--threshold", type=click.FloatRange(0.0, 1.0), default=None,
              help="Flag incidents whose confidence is at or above this [default: the confidence that reached "
                   "recall 0.97 on the model's dev data; 0.5 with --rules-only].")
@click.option("--target-recall", type=click.FloatRange(0.0, 1.0), default=None,
              help="Use the threshold that reached this recall on the model's dev data (e.g. 0.95).")
@input_options
@model_options
@user_errors
def scan(incidents, crimes, output, threshold, target_recall, encoding, rules_path, rejects_path, model, rules_only):
    """Flag incidents in INCIDENTS that disclose a violent or sexual offence no linked crime covers.

    Flags at or above the model's `likely` threshold (precision 0.95 on dev) are banded `likely`; the rest
    `review`.
    """
    from classifier.flags import make_flag, now

    if threshold is not None and target_recall is not None:
        raise click.UsageError("give --threshold or --target-recall, not both")
    scorer, manifest = _scorer(rules_path, model, rules_only)
    rules = scorer.rules
    threshold, likely = _thresholds(manifest, threshold, target_recall)
    scanned_at = now()
    rejects_target = _rejects_target(rejects_path, output, incidents)
    scored = 0
    with RecordWriter(rejects_target, columns=REJECT_COLUMNS) as rejects, \
            RecordWriter(output, columns=FLAG_COLUMNS) as out:
        on_reject = _reject_sink(rejects)
        linked = read_crimes(crimes, encoding=encoding, on_reject=on_reject)
        for incident, score in scorer.score(read_incidents(incidents, encoding=encoding, on_reject=on_reject)):
            scored += 1
            flag = make_flag(incident, score, linked.get(incident.incident_id, []),
                             threshold=threshold, likely=likely, rules=rules, scanned_at=scanned_at)
            if flag is not None:
                out.write(flag)
    _report(f"threshold {threshold:.3f} ({scorer.model_name}); likely from {likely:.3f}")
    _report(f"scanned {scored} incidents; flagged {out.count}; "
            f"{rejects.count} rows rejected (written to {rejects_target})")


RULES_ONLY_LIKELY = 0.9


def _thresholds(manifest, threshold, target_recall):
    """(threshold, likely): the flagging threshold and the start of the `likely` band."""
    if manifest is None:
        if target_recall is not None:
            raise click.UsageError("--target-recall needs a trained model's dev curve; it does not apply with --rules-only")
        threshold = 0.5 if threshold is None else threshold
        return threshold, max(RULES_ONLY_LIKELY, threshold)
    from classifier.thresholds import threshold_for_recall

    marks = manifest["thresholds"]
    if target_recall is not None:
        threshold = threshold_for_recall([tuple(p) for p in marks["dev_curve"]], target_recall)
    elif threshold is None:
        threshold = marks["review"]
    return threshold, max(marks["likely"], threshold)


@cli.command()
@click.argument("incidents", required=False, type=click.Path(path_type=Path))
@click.option("--id", "incident_id", help="The incident in INCIDENTS to explain.")
@click.option("--text", help="Explain this text instead of an incident from a file.")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of INCIDENTS.")
@rules_option
@model_options
@user_errors
def explain(incidents, incident_id, text, encoding, rules_path, model, rules_only):
    """Show how one log is read: entries, tokens, cues, context triggers and the verdict.

    The verdict is the rules' and, unless --rules-only, the trained model's. This prints the log's text:
    use it on a screen you may show the incident on.
    """
    from classifier.explain import explain_text

    if text is None:
        if incidents is None or incident_id is None:
            raise click.UsageError("give INCIDENTS and --id, or --text")
        found = next((i for i in read_incidents(incidents, encoding=encoding) if i.incident_id == incident_id), None)
        if found is None:
            raise click.ClickException(f"{incidents}: no incident with incident_id {incident_id!r}")
        text = found.text
    scorer, _ = _scorer(rules_path, model, rules_only)
    click.echo(explain_text(scorer, text))


@cli.group()
def rules():
    """Work with the rule files."""


@rules.command("test")
@rules_option
@click.option("-v", "--verbose", is_flag=True, help="List every example, not only the failures.")
@user_errors
def rules_test(rules_path, verbose):
    """Check every rule against its positive and negative examples."""
    from classifier.rule_examples import run_examples
    from classifier.scoring import RuleScorer

    ruleset = _load_rules(rules_path)
    results = run_examples(RuleScorer(ruleset), ruleset)
    failures = [r for r in results if not r.passed]
    for r in results if verbose else failures:
        click.echo(f"{'ok  ' if r.passed else 'FAIL'} {r.rule} [{r.side}] {r.text!r}" + ("" if r.passed else f": {r.problem}"))
    rules_count = len({r.rule for r in results})
    click.echo(f"{len(results) - len(failures)}/{len(results)} examples pass across {rules_count} rules "
               f"({ruleset.version})")
    if failures:
        raise SystemExit(1)


@rules.command("list")
@rules_option
@user_errors
def rules_list(rules_path):
    """List the rules: id, label or category, and description."""
    ruleset = _load_rules(rules_path)
    for r in ruleset.cues:
        click.echo(f"cue      {r.id:32} {r.label:24} {r.description}")
    for r in ruleset.context:
        click.echo(f"context  {r.id:32} {(r.category or r.direction):24} {r.description}")
    for r in ruleset.closing_codes:
        click.echo(f"closing  {r.id:32} {'no offence claimed':24} {r.description}")
    for r in ruleset.crime_offences:
        click.echo(f"offence  {r.id:32} {r.label:24} {r.description}")
    click.echo(f"rules version {ruleset.version}")


def _default_corpus() -> Path:
    from classifier.resources import corpus_dir

    return corpus_dir()


@cli.command()
@click.option("--corpus", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of labelled *.jsonl logs [default: corpora/incidents of this checkout].")
@click.option("--models", "models_root", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where model versions are kept [default: the package's models folder].")
@rules_option
@click.option("--C", "c", type=float, default=None, help="Inverse regularisation of the linear model.")
@click.option("--calibration", type=click.Choice(["isotonic", "sigmoid"]), default=None,
              help="How the offence confidence is calibrated on out-of-fold predictions.")
@click.option("--seed", type=int, default=None, help="Seed of the cross-validation folds.")
@click.option("--set-current/--no-set-current", default=True, show_default=True,
              help="Make the new version the one classify and scan use.")
@user_errors
def train(corpus, models_root, rules_path, c, calibration, seed, set_current):
    """Train a model version on the corpus train split; choose thresholds and report metrics on dev.

    Writes models/<version>/model.joblib and manifest.json (hash, corpus and rules hashes, library
    versions, settings, dev metrics, thresholds). The test split is not read.
    """
    from classifier.artefacts import set_current as make_current
    from classifier.training import train_model

    corpus = corpus or _default_corpus()
    if not corpus.is_dir() or not any(corpus.glob("*.jsonl")):
        raise click.ClickException(f"{corpus}: no labelled *.jsonl files; give the corpus folder with --corpus")
    settings = {k: v for k, v in (("C", c), ("calibration", calibration), ("seed", seed)) if v is not None}
    version = train_model(corpus, _load_rules(rules_path), settings=settings, root=models_root, progress=_report)
    m = version.manifest["dev_metrics"]
    click.echo(f"model {version.version} written to {version.folder}")
    click.echo(f"dev ({m['n']} logs) at threshold {m['threshold']:.3f}: precision {m['precision']:.3f}, "
               f"recall {m['recall']:.3f}, F1 {m['f1']:.3f}, label accuracy {m['label_accuracy']:.3f}, "
               f"ECE {m['expected_calibration_error']:.3f}")
    if set_current:
        make_current(version.version, models_root)
        click.echo(f"{version.version} is now the current model")


@cli.command()
@click.argument("labelled", type=click.Path(path_type=Path))
@click.option("--split", type=click.Choice(["train", "dev", "test"]), default="test", show_default=True,
              help="With a corpus folder: which split to evaluate on.")
@click.option("--model", "model", default=None, help="Model version or folder [default: the current model].")
@click.option("--corpus", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Corpus whose train split trains the word n-gram baseline [default: corpora/incidents].")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the full report (metrics, confusion matrices, curves) as JSON here.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Draw the reliability diagram and precision-recall curves to this image (.png).")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of a LABELLED file.")
@user_errors
def evaluate(labelled, split, model, corpus, json_path, plot_path, encoding):
    """Score labelled logs with the model, the rules alone, a keyword search and word n-grams alone.

    LABELLED is a corpus folder (its --split is used) or a CSV / JSON Lines file of incidents with a
    `label` column. Prints precision, recall, F1, recall at precision 0.9, precision at recall 0.95,
    label accuracy on the positives, expected calibration error and confusion matrices.
    """
    import json as jsonlib

    from classifier.artefacts import resolve
    from classifier.corpus import load_corpus
    from classifier.evaluate import evaluate as run, format_report, plot_report
    from classifier.scoring import ModelScorer
    from classifier.training import analyse_texts

    rules = _load_rules(None)
    scorer = ModelScorer(rules, resolve(model))
    if labelled.is_dir():
        records = [(r["text"], r["label"]) for r in load_corpus(labelled, (split,))]
    else:
        records = _labelled_file(labelled, encoding)
    if not records:
        raise click.ClickException(f"{labelled}: no labelled logs to evaluate")
    from classifier.model import build_word_baseline

    train = list(load_corpus(corpus or _default_corpus(), ("train",)))
    baseline = build_word_baseline(scorer.manifest.get("settings")).fit(
        analyse_texts(scorer.rule_scorer, (r["text"] for r in train)), [r["label"] for r in train])
    report = run([t for t, _ in records], [g for _, g in records], model_scorer=scorer, baseline=baseline)
    click.echo(format_report(report))
    if json_path:
        json_path.write_text(jsonlib.dumps(report, indent=2) + "\n", encoding="utf-8")
        click.echo(f"report written to {json_path}")
    if plot_path:
        plot_report(report, plot_path)
        click.echo(f"reliability diagram and precision-recall curves drawn to {plot_path}")


def _labelled_file(path: Path, encoding: str) -> list[tuple[str, str]]:
    from classifier.io.readers import read_incidents
    from classifier.labels import LABELS

    records = []
    for incident in read_incidents(path, encoding=encoding):
        label = str(incident.extra.get("label", "")).strip()
        if label not in LABELS:
            raise InputError(path, incident.line, f"label {label!r} is not one of: {', '.join(LABELS)}")
        records.append((incident.text, label))
    return records


def main():
    cli()
