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


def input_options(func):
    func = click.option("--encoding", default="utf-8", show_default=True,
                        help="Text encoding of the input files (e.g. cp1252, latin-1); a BOM is always allowed.")(func)
    func = click.option("--rules", "rules_path", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="A folder of rule files to use instead of the shipped rules.")(func)
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


def _report(message: str) -> None:
    click.echo(message, err=True)


@cli.command()
@click.argument("incidents", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, help="Scores file (.jsonl or .csv), or - for standard output.")
@input_options
@user_errors
def classify(incidents, output, encoding, rules_path, rejects_path):
    """Score every incident in INCIDENTS: label, confidence, six probabilities and the evidence."""
    from classifier.scoring import RuleScorer

    scorer = RuleScorer(_load_rules(rules_path))
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
@click.option("--threshold", type=click.FloatRange(0.0, 1.0), default=0.5, show_default=True,
              help="Flag incidents whose confidence is at or above this.")
@input_options
@user_errors
def scan(incidents, crimes, output, threshold, encoding, rules_path, rejects_path):
    """Flag incidents in INCIDENTS that disclose a violent or sexual offence no linked crime covers."""
    from classifier.flags import make_flag, now
    from classifier.scoring import RuleScorer

    rules = _load_rules(rules_path)
    scorer = RuleScorer(rules)
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
                             threshold=threshold, rules=rules, scanned_at=scanned_at)
            if flag is not None:
                out.write(flag)
    _report(f"scanned {scored} incidents; flagged {out.count}; "
            f"{rejects.count} rows rejected (written to {rejects_target})")


@cli.command()
@click.argument("incidents", required=False, type=click.Path(path_type=Path))
@click.option("--id", "incident_id", help="The incident in INCIDENTS to explain.")
@click.option("--text", help="Explain this text instead of an incident from a file.")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of INCIDENTS.")
@click.option("--rules", "rules_path", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A folder of rule files to use instead of the shipped rules.")
@user_errors
def explain(incidents, incident_id, text, encoding, rules_path):
    """Show how one log is read: entries, tokens, cues, context triggers and the verdict.

    This prints the log's text: use it on a screen you may show the incident on.
    """
    from classifier.explain import explain_text
    from classifier.scoring import RuleScorer

    if text is None:
        if incidents is None or incident_id is None:
            raise click.UsageError("give INCIDENTS and --id, or --text")
        found = next((i for i in read_incidents(incidents, encoding=encoding) if i.incident_id == incident_id), None)
        if found is None:
            raise click.ClickException(f"{incidents}: no incident with incident_id {incident_id!r}")
        text = found.text
    scorer = RuleScorer(_load_rules(rules_path))
    click.echo(explain_text(scorer, text))


@cli.group()
def rules():
    """Work with the rule files."""


@rules.command("test")
@click.option("--rules", "rules_path", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A folder of rule files to test instead of the shipped rules.")
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
@click.option("--rules", "rules_path", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A folder of rule files to list instead of the shipped rules.")
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


def main():
    cli()
