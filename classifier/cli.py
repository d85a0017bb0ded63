"""The `incident-classifier` command."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import sys
import traceback
from collections import Counter
from pathlib import Path

import click

from classifier import __version__
from classifier.errors import SettingsError, UserError
from classifier.io.readers import read_incidents
from classifier.io.writers import RecordWriter

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

# The exit codes (README, "Exit codes"). A stop by a signal exits 128 + its number, as a shell reports it.
OK, USER_ERROR, INTERNAL_ERROR = 0, 1, 2
# Set to 1 to print the traceback of an internal error (it may hold incident text, so it is off by default).
DEBUG_VARIABLE = "INCIDENT_CLASSIFIER_DEBUG"


class InternalError(click.ClickException):
    """An exception this tool did not expect: a fault in it, not in the user's input."""

    exit_code = INTERNAL_ERROR

    def __init__(self, exc: BaseException):
        # The type and where it was raised, never str(exc): an exception's message may quote incident text.
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if f"{os.sep}classifier{os.sep}" in f.filename] or frames
        where = ""
        if ours:
            path = ours[-1].filename
            where = f" at {path[path.rfind(f'{os.sep}classifier{os.sep}') + 1:]}:{ours[-1].lineno}"
        super().__init__(f"internal error: {type(exc).__name__}{where}; this is a fault in incident-classifier, "
                         f"please report it (set {DEBUG_VARIABLE}=1 to print the traceback)")


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP: ends the run as Ctrl-C does, so files are tidied and partial outputs kept for --resume."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def user_errors(func):
    """The one converter from an exception to what the user sees: one line and an exit code, never a traceback.

    A `UserError` (input, rules, model, settings) and click's usage errors exit 1; any other exception is an
    internal error: one line naming its type and where, and exit 2. Applied to every command and, by the
    command group, around click's parsing of the command line.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except SettingsError as exc:
            raise _usage_error(click.UsageError(str(exc))) from None
        except UserError as exc:
            raise click.ClickException(str(exc)) from None
        except click.UsageError as exc:
            raise _usage_error(exc)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            # The reader of standard output went away (`| head`): nothing left to say to it.
            sys.stderr.close()
        except Exception as exc:  # noqa: BLE001  (the point: no exception leaves as a traceback)
            if os.environ.get(DEBUG_VARIABLE) == "1":
                traceback.print_exc()
            raise InternalError(exc) from exc

    return wrapper


def _usage_error(exc: click.UsageError) -> click.UsageError:
    # click exits 2 on a usage error; here 2 means a fault of the tool, and a wrong command line is the user's.
    exc.exit_code = USER_ERROR
    return exc


@contextlib.contextmanager
def _signals_end_the_run():
    """SIGTERM and SIGHUP raise Terminated, so that `finally` blocks run: temporary copies removed, outputs
    aborted or (with a checkpoint) kept for --resume. Handlers are put back afterwards."""

    def stop(signum, frame):
        raise Terminated(signum)

    installed = {}
    try:
        for signum in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
            if signum is not None:
                installed[signum] = signal.signal(signum, stop)
    except ValueError:
        pass  # not the main thread: the caller owns the signals
    try:
        yield
    finally:
        for signum, previous in installed.items():
            signal.signal(signum, previous)


class CommandLine(click.Group):
    """The command group: every run of every command ends through `user_errors`, so the exit code always means
    the same (0 done, 1 the user's input or command line, 2 a fault of the tool, 128 + N stopped by signal N)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        with _signals_end_the_run():
            try:
                result = user_errors(super().main)(args, prog_name, complete_var, False, **extra)
            except click.ClickException as exc:
                exc.show()
                sys.exit(exc.exit_code)
            except click.Abort as exc:
                stop = exc.__cause__
                if isinstance(stop, Terminated):
                    click.echo(f"stopped by {signal.Signals(stop.signum).name}", err=True)
                    sys.exit(128 + stop.signum)
                click.echo("interrupted" if isinstance(stop, KeyboardInterrupt) else "Aborted!", err=True)
                sys.exit(128 + signal.SIGINT if isinstance(stop, KeyboardInterrupt) else USER_ERROR)
        # click gives the code of an explicit exit (--help, --version), else what the command returned.
        sys.exit(result if isinstance(result, int) else OK)


@click.group(cls=CommandLine, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="incident-classifier")
def cli():
    """Find violent and sexual offences in incident logs that have no crime record.

    Reads free-text incident logs (CSV or JSON Lines), scores each for the six labels of the Home Office
    Counting Rules families this tool covers, and flags the ones no linked crime record covers, each with
    the words, the rule and the context that raised it.
    """


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


def _load_rules(rules_path):
    from classifier.pipeline.ruleset import load_rules

    return load_rules(rules_path)


def models_root_option(func):
    return click.option("--models", "models_root", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="The models home: trained versions, current.json and the audit log [default: "
                             "$INCIDENT_CLASSIFIER_HOME/models, else models/ in the user data folder]. The "
                             "shipped model is read-only, and current until one is made current here.")(func)


def model_options(func):
    func = click.option("--rules-only", is_flag=True,
                        help="Score with the rules alone, without the trained model.")(func)
    func = models_root_option(func)
    func = click.option("--model", "model", default=None,
                        help="A model version (in the models home, or a shipped one) or folder [default: the "
                             "current model].")(func)
    return func


def _scorer(rules_path, model, rules_only, models_root=None):
    """A scorer in this process, and the model manifest (None for the rules alone)."""
    from classifier.api import load_scorer

    scorer = load_scorer(model=model, rules=rules_path, rules_only=rules_only, models_root=models_root)
    return scorer, getattr(scorer, "manifest", None)


def _scoring(rules_path, model, rules_only, models_root=None, workers: int = 1):
    """Scoring for a long run: checked here, done here or in `workers` processes."""
    from classifier.api import scorer_spec
    from classifier.batch.workers import Scoring

    return Scoring(scorer_spec(model=model, rules=rules_path, rules_only=rules_only, models_root=models_root),
                   workers=workers)


def run_options(func):
    """Options of a long run over a file: workers, progress, resume."""
    from classifier.batch.workers import default_workers

    func = click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="Append one JSON record of this run here: counts, times, versions and any error "
                             "(never incident text).")(func)
    func = click.option("--resume", is_flag=True,
                        help="Carry on a run that was stopped (killed included) from its last checkpoint; the "
                             "output is the same as that of an unbroken run. Needs the same inputs and "
                             "settings.")(func)
    func = click.option("-q", "--quiet", is_flag=True,
                        help="No progress line (it is only drawn when stderr is a terminal).")(func)
    func = click.option("--workers", type=click.IntRange(min=1), default=default_workers(), show_default=True,
                        help="Processes that score incidents; the output is the same, in the same order, "
                             "for any number.")(func)
    return func


def _report(message: str) -> None:
    click.echo(message, err=True)


def listing_options(func):
    func = click.option("--csv", "as_csv", is_flag=True, help="Print CSV (a header row, then a row each).")(func)
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (a list of objects).")(func)


def _listing_format(as_json: bool, as_csv: bool) -> str:
    if as_json and as_csv:
        raise click.UsageError("give --json or --csv, not both")
    return "json" if as_json else "csv" if as_csv else "text"


@cli.command("classify")
@click.argument("incidents", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, help="Scores file (.jsonl or .csv), or - for standard output.")
@input_options
@model_options
@run_options
@user_errors
def classify_command(incidents, output, encoding, rules_path, rejects_path, model, models_root, rules_only, workers,
                     quiet, resume, log_file):
    """Score every incident in INCIDENTS: label, confidence, six probabilities and the evidence."""
    from classifier.batch.run_log import run_log
    from classifier.batch.scan import classify_files

    with run_log(log_file, command="classify", inputs=[incidents]) as record:
        summary = classify_files(incidents, output,
                                 scoring=_scoring(rules_path, model, rules_only, models_root, workers),
                                 encoding=encoding, rejects=rejects_path, resume=resume, quiet=quiet,
                                 report=_report)
        record["summary"] = summary
    if summary.finished_at:
        return  # --resume of a finished run: it said so, and did nothing
    _report(f"scored {summary.written} incidents; {summary.rejected} rows rejected (written to {summary.rejects})")


@cli.command("scan")
@click.argument("incidents", type=click.Path(path_type=Path))
@click.option("--crimes", required=True, type=click.Path(path_type=Path),
              help="Crime records (.csv or .jsonl) with crime_id and the incident_id they are linked to.")
@click.option("-o", "--output", required=True, help="Flags file (.jsonl or .csv), or - for standard output.")
@click.option("--threshold", type=click.FloatRange(0.0, 1.0), default=None,
              help="Flag incidents whose confidence is at or above this [default: the confidence that reached "
                   "recall 0.98 on the model's out-of-fold train and dev scores, with the flags of what the rules "
                   "hold; 0.5 with --rules-only].")
@click.option("--target-recall", type=click.FloatRange(0.0, 1.0), default=None,
              help="Use the threshold that reached this recall on the model's held-out scores (e.g. 0.95).")
@click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also keep the flags in this flag store (SQLite) for review; scanning again adds no flag twice.")
@click.option("--engine", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="local: this machine, --workers processes. dask: a dask.distributed cluster, INCIDENTS being a "
                   "folder, a glob or a file of partitions (CSV, JSON Lines, Parquet); each incident's entries in "
                   "one partition.")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="With --engine dask: the scheduler to use (e.g. tcp://10.0.0.5:8786) [default: a local "
                   "cluster of --workers processes].")
@input_options
@model_options
@run_options
@user_errors
def scan_command(incidents, crimes, output, threshold, target_recall, db_path, engine, scheduler, encoding,
                 rules_path, rejects_path, model, models_root, rules_only, workers, quiet, resume, log_file):
    """Flag incidents in INCIDENTS that disclose a violent or sexual offence no linked crime covers.

    Flags at or above the model's `likely` threshold (above the flag threshold, where precision on held-out
    scores stays at 0.95) are banded `likely`; the rest `review`. A plain disclosure that holds the rule floor
    (an offence cue of weight 0.8 or more that nothing excludes) is flagged at any threshold.
    """
    from classifier.batch.run_log import run_log
    from classifier.batch.scan import scan_files

    with run_log(log_file, command="scan", inputs=[incidents, crimes]) as record:
        store = _store(db_path) if db_path else None
        try:
            summary = scan_files(incidents, crimes, output,
                                 scoring=_scoring(rules_path, model, rules_only, models_root, workers),
                                 encoding=encoding, rejects=rejects_path, threshold=threshold,
                                 target_recall=target_recall, store=store, engine=engine, scheduler=scheduler,
                                 resume=resume, quiet=quiet, report=_report)
        finally:
            if store is not None:
                store.close()
        record["summary"] = summary
    if summary.finished_at:
        return  # --resume of a finished run: it said so, and did nothing
    _report(f"threshold {summary.threshold:.3f} ({summary.model}); likely from {summary.likely:.3f}")
    _report(f"scanned {summary.scored} incidents; flagged {summary.written}; "
            f"{summary.rejected} rows rejected (written to {summary.rejects})")
    if store is not None:
        stored = Counter(summary.stored)
        _report(f"flag store {db_path}: {stored['added']} new, {stored['refreshed']} flagged again after the text "
                f"changed, {stored['again']} already held, {stored['decided']} already decided, "
                f"{stored['closed as already recorded']} closed as already recorded")


@cli.command("explain")
@click.argument("incidents", required=False, type=click.Path(path_type=Path))
@click.option("--id", "incident_id", help="The incident in INCIDENTS to explain.")
@click.option("--text", help="Explain this text instead of an incident from a file.")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of INCIDENTS.")
@rules_option
@model_options
@user_errors
def explain_command(incidents, incident_id, text, encoding, rules_path, model, models_root, rules_only):
    """Show how one log is read: entries, tokens, cues, context triggers and the verdict.

    The verdict is the rules' and, unless --rules-only, the trained model's. This prints the log's text:
    use it on a screen you may show the incident on.
    """
    from classifier.scoring.explain import explain_text

    if text is None:
        if incidents is None or incident_id is None:
            raise click.UsageError("give INCIDENTS and --id, or --text")
        found = next((i for i in read_incidents(incidents, encoding=encoding) if i.incident_id == incident_id), None)
        if found is None:
            raise click.ClickException(f"{incidents}: no incident with incident_id {incident_id!r}")
        text = found.text
    scorer, _ = _scorer(rules_path, model, rules_only, models_root)
    click.echo(explain_text(scorer, text))


@cli.group("rules")
def rules_group():
    """Work with the rule files."""


@rules_group.command("test")
@rules_option
@click.option("-v", "--verbose", is_flag=True, help="List every example, not only the failures.")
@user_errors
def rules_test_command(rules_path, verbose):
    """Check every rule against its positive and negative examples."""
    from classifier.pipeline.examples import run_examples
    from classifier.scoring.scorers import RuleScorer

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


@rules_group.command("list")
@rules_option
@listing_options
@user_errors
def rules_list_command(rules_path, as_json, as_csv):
    """List the rules: kind, id, label or context category, and description."""
    from classifier.io.listings import format_listing

    fmt = _listing_format(as_json, as_csv)
    ruleset = _load_rules(rules_path)
    records = (
        [{"kind": "cue", "id": r.id, "label": r.label, "category": None, "description": r.description}
         for r in ruleset.cues]
        + [{"kind": "context", "id": r.id, "label": None, "category": r.category or r.direction,
            "description": r.description} for r in ruleset.context]
        + [{"kind": "closing", "id": r.id, "label": None, "category": "no offence claimed",
            "description": r.description} for r in ruleset.closing_codes]
        + [{"kind": "offence", "id": r.id, "label": r.label, "category": None, "description": r.description}
           for r in ruleset.crime_offences]
    )

    def cells(r):
        return [r["kind"], r["id"], r["label"] or r["category"] or "-", r["description"]]

    click.echo(format_listing(records, ["kind", "id", "label", "category", "description"], fmt, cells=cells,
                              headers=["kind", "id", "label or category", "description"]))
    # Machine formats keep standard output to the records.
    click.echo(f"rules version {ruleset.version}", err=fmt != "text")


def _home(models_root):
    """The models home, checked writable before any work: a command that would write into the package stops
    here, not after minutes of training."""
    from classifier.model_versions import writable_home

    return writable_home(models_root)


def reviewer_option(func):
    return click.option("--reviewer", default=None,
                        help="Who is doing this, for the audit log [default: the account running it].")(func)


def _corpus(corpus: Path | None) -> Path:
    """The labelled corpus folder: the one given, or the source checkout's; refused if it holds no logs."""
    from classifier.resources import corpus_dir

    if corpus is None and not corpus_dir().is_dir():
        # An installed package has no corpus beside it (it does not ship): say what to do, not which
        # site-packages path is missing.
        raise click.ClickException("no labelled corpus: the corpus does not ship with the installed package; "
                                   "give its folder with --corpus DIR")
    corpus = corpus or corpus_dir()
    if not corpus.is_dir() or not any(corpus.glob("*.jsonl")):
        raise click.ClickException(f"{corpus}: no labelled *.jsonl files; give the corpus folder with --corpus")
    return corpus


@cli.command("train")
@click.option("--corpus", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of labelled *.jsonl logs [default: corpora/incidents of this checkout].")
@models_root_option
@rules_option
@click.option("--C", "c", type=float, default=None, help="Inverse regularisation of the linear model.")
@click.option("--calibration", type=click.Choice(["isotonic", "sigmoid"]), default=None,
              help="How the offence confidence is calibrated on out-of-fold predictions.")
@click.option("--seed", type=int, default=None, help="Seed of the cross-validation folds.")
@click.option("--set-current/--no-set-current", default=True, show_default=True,
              help="Make the new version the one classify and scan use.")
@reviewer_option
@user_errors
def train_command(corpus, models_root, rules_path, c, calibration, seed, set_current, reviewer):
    """Train a model version on the corpus train split; thresholds from out-of-fold and dev scores; dev metrics.

    Writes <models home>/<version>/model.joblib and manifest.json (hash, corpus and rules hashes, library
    versions, settings, dev metrics, thresholds). The test split is not read.
    """
    from classifier.model_versions import set_current as make_current
    from classifier.training.train import train_model

    corpus = _corpus(corpus)
    _home(models_root)
    settings = {k: v for k, v in (("C", c), ("calibration", calibration), ("seed", seed)) if v is not None}
    version = train_model(corpus, _load_rules(rules_path), settings=settings, root=models_root, progress=_report)
    m = version.manifest["dev_metrics"]
    click.echo(f"model {version.version} written to {version.folder}")
    click.echo(f"dev ({m['n']} logs) at threshold {m['threshold']:.3f}: precision {m['precision']:.3f}, "
               f"recall {m['recall']:.3f}, F1 {m['f1']:.3f}, label accuracy {m['label_accuracy']:.3f}, "
               f"ECE {m['expected_calibration_error']:.3f}")
    if set_current:
        make_current(version.version, models_root, note="trained", action="train", by=reviewer)
        click.echo(f"{version.version} is now the current model")


@cli.command("evaluate")
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
@click.option("--held-out", "held_out", type=click.Choice(["style", "writer", "none"]), multiple=True,
              default=("style", "writer"), show_default=True,
              help="Also train the model's settings without each style (or writer) of the corpus and score it.")
@models_root_option
@user_errors
def evaluate_command(labelled, split, model, corpus, json_path, plot_path, encoding, held_out, models_root):
    """Score labelled logs with the model, the rules alone, a keyword search and word n-grams alone.

    LABELLED is a corpus folder (its --split is used) or a CSV / JSON Lines file of incidents with a
    `label` column. Prints precision, recall, F1, recall at precision 0.9, precision at recall 0.95,
    label accuracy on the positives, expected calibration error and confusion matrices.

    Then, for each --held-out grouping of the --corpus, the styles (or writers) a model has not seen: a model
    with the same settings is trained on the train split of every other style and scores all logs of the
    held-out one. Per style: the model's, the rules' and the keyword search's precision, recall, F1 and
    calibration error, and the worst held-out style. This trains one model per style (and per writer):
    minutes, not seconds; `--held-out none` skips it.
    """
    import json as jsonlib

    from classifier.evaluation.held_out import format_held_out
    from classifier.evaluation.labelled import LabelledEvaluation, format_report, plot_report
    from classifier.model_versions import resolve

    evaluation = LabelledEvaluation(labelled, corpus=_corpus(corpus), model=resolve(model, models_root), split=split,
                                    encoding=encoding, held_out=held_out)
    report = evaluation.report()
    click.echo(format_report(report))
    report["held_out"] = {}
    for by in evaluation.groupings:
        report["held_out"][by] = evaluation.held_out(by, progress=_report)
        click.echo("\n" + format_held_out(report["held_out"][by]))
    if json_path:
        json_path.write_text(jsonlib.dumps(report, indent=2) + "\n", encoding="utf-8")
        click.echo(f"report written to {json_path}")
    if plot_path:
        plot_report(report, plot_path)
        click.echo(f"reliability diagram and precision-recall curves drawn to {plot_path}")


def _store(db_path, mode: str = "create"):
    """The flag store of --db. mode: `create` (scan), `write` (an existing store) or `read` (read-only)."""
    from classifier.review.store import FlagStore, default_db

    return FlagStore(db_path or default_db(), mode=mode)


def db_option(func):
    return click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="The flag store [default: $INCIDENT_CLASSIFIER_DB or ./incident-classifier.sqlite].")(func)


def offence_label_option(func):
    from classifier.labels import OFFENCE_LABELS

    return click.option("--label", type=click.Choice(OFFENCE_LABELS), default=None,
                        help="Only flags with this label.")(func)


def _iso_time(ctx, param, value):
    from classifier.review.store import decision_time

    if value is not None and decision_time(value) is None:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 date or time (e.g. 2026-11-26 or 2026-11-26T09:30)")
    return value


@cli.group("review")
def review_group():
    """Triage flags and record decisions (the flag store filled by `scan --db`)."""


QUEUE_COLUMNS = ["incident_id", "label", "confidence", "band", "decided_by", "opened_at", "opening_code",
                 "closing_code", "scanned_at"]


@review_group.command("queue")
@db_option
@offence_label_option
@click.option("--since", default=None, callback=_iso_time, help="Opened at or after this ISO date or time.")
@click.option("--until", default=None, callback=_iso_time, help="Opened before this ISO date or time.")
@click.option("--code", default=None, help="Opening or closing code contains this text (e.g. 'VERBAL').")
@click.option("--band", type=click.Choice(["likely", "review"]), default=None, help="Only flags of this band.")
@click.option("--search", default=None, help="Text or incident id contains this.")
@click.option("--order", type=click.Choice(["value", "teach"]), default="value", show_default=True,
              help="value: most valuable first. teach: the flags the model is least sure of first (offence "
                   "probability nearest 0.5), whose decisions teach the next retrain most.")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True)
@listing_options
@user_errors
def review_queue_command(db_path, label, since, until, code, band, search, order, limit, as_json, as_csv):
    """Open flags, most valuable first (the likely band, then by confidence, oldest first), or in --order
    teach."""
    from classifier.io.listings import format_listing
    from classifier.review.render import one_line

    fmt = _listing_format(as_json, as_csv)
    with _store(db_path, "read") as store:
        rows = store.open_flags(label=label, since=since, until=until, code=code, band=band, search=search,
                                order=order, limit=limit)
    # Stored values come from the force's export: no control character of theirs reaches the terminal.
    records = [{c: one_line(r[c]) if isinstance(r[c], str) else r[c] for c in QUEUE_COLUMNS} for r in rows]

    def cells(r):
        return [r["incident_id"], r["label"], f"{r['confidence']:.3f}", r["band"] or "", r["decided_by"] or "-",
                (r["opened_at"] or "")[:16], (r["closing_code"] or "")[:30]]

    click.echo(format_listing(records, QUEUE_COLUMNS, fmt, cells=cells, headers=[
        "incident_id", "label", "confidence", "band", "decided_by", "opened_at", "closing_code"]))
    _report(f"{len(rows)} open flag{'' if len(rows) == 1 else 's'} shown")


@review_group.command("show")
@click.argument("incident_id")
@db_option
@click.option("--no-colour", is_flag=True, help="Mark evidence with [[ ]] instead of terminal colours.")
@user_errors
def review_show_command(incident_id, db_path, no_colour):
    """The log of INCIDENT_ID with its evidence highlighted and the context triggers named.

    This prints the log's text (without control characters): use it on a screen you may show the incident on.
    """
    from classifier.review.render import render_flag

    with _store(db_path, "read") as store:
        flag = store.latest_flag(incident_id)
        if flag is None:
            raise click.ClickException(f"incident {incident_id!r} has no flag in {store.path}")
        reviews = store.reviews(incident_id)
    click.echo(render_flag(flag, reviews, colour=not no_colour))


@review_group.command("decide")
@click.argument("incident_id")
@click.option("--outcome", required=True, type=click.Choice(["crime", "no_crime", "already_recorded"]))
@click.option("--label", default=None, help="The confirmed label: with outcome crime, and only with it.")
@click.option("--reviewer", required=True, help="Who decided.")
@click.option("--note", default=None, help="Free text.")
@db_option
@user_errors
def review_decide_command(incident_id, outcome, label, reviewer, note, db_path):
    """Record a decision on INCIDENT_ID.

    Another reviewer's decision is kept beside the first (reviewer agreement); a reviewer deciding again
    replaces their own earlier decision in every count, and the earlier one is kept as history.
    """
    with _store(db_path, "write") as store:
        recorded = store.decide(incident_id, outcome, reviewer=reviewer, label=label, note=note)
    click.echo(f"{incident_id}: {outcome}" + (f" ({label})" if label else "") + f" by {reviewer} recorded")
    if recorded.status == "redecided":
        click.echo(f"{reviewer} had decided {incident_id} before: that decision is kept as history, and the latest "
                   "one counts")


@review_group.command("import")
@click.argument("reviews_file", type=click.Path(path_type=Path))
@db_option
@click.option("--encoding", default="utf-8", show_default=True)
@user_errors
def review_import_command(reviews_file, db_path, encoding):
    """Add the decisions in REVIEWS_FILE (CSV or JSON Lines, the reviews contract): all of them or none.

    A decision already in the store (same incident, reviewer, outcome and reviewed_at) is skipped, so a file
    imported twice counts once.
    """
    from classifier.review.decisions import import_decisions

    with _store(db_path, "write") as store:
        summary = import_decisions(reviews_file, store, encoding=encoding)
    click.echo(f"{summary.added} decision{'' if summary.added == 1 else 's'} imported from {reviews_file}; "
               f"{summary.skipped} already recorded, skipped")
    if summary.redecided:
        click.echo(f"{summary.redecided} of them {'is a re-decision' if summary.redecided == 1 else 'are re-decisions'}"
                   " (a reviewer deciding a flag again): kept beside the earlier decision, the latest counting")


@review_group.command("sample")
@click.argument("incidents", type=click.Path(path_type=Path))
@click.option("--n", "size", type=click.IntRange(1), required=True, help="How many unflagged incidents to draw.")
@click.option("--seed", type=int, required=True, help="Seed of the draw, so an inspector can repeat it.")
@db_option
@click.option("--encoding", default="utf-8", show_default=True)
@model_options
@user_errors
def review_sample_command(incidents, size, seed, db_path, encoding, model, models_root, rules_only):
    """Draw a random sample of incidents in INCIDENTS that were NOT flagged, for a reviewer to check.

    As inspectors do it: decide each with `review decide`, then `review stats` estimates the share of
    offences the scan misses, with a confidence interval.
    """
    from classifier.review.audit import draw_audit_sample

    with _store(db_path, "write") as store:
        scorer, _ = _scorer(None, model, rules_only, models_root)
        sample_id, items, population = draw_audit_sample(incidents, store, size=size, seed=seed, scorer=scorer,
                                                         encoding=encoding)
    from classifier.review.render import one_line

    for incident, _ in items:
        click.echo(one_line(incident.incident_id))
    _report(f"audit sample {sample_id}: {len(items)} of {population} unflagged incidents; "
            "decide each with `review decide`")


@review_group.command("export")
@click.option("-o", "--output", required=True, help="Reviews file (.jsonl or .csv), or - for standard output.")
@db_option
@user_errors
def review_export_command(output, db_path):
    """Every decision in the store, as the reviews contract (for retraining and audit), each with the label
    and confidence the flag predicted (predicted_label, confidence)."""
    contract = ["incident_id", "outcome", "label", "reviewer", "reviewed_at", "note"]
    columns = contract + ["predicted_label", "confidence"]
    with _store(db_path, "read") as store, RecordWriter(output, columns=columns) as out:
        for r in store.decisions():
            out.write({c: r[c] for c in columns})
    _report(f"{out.count} decisions exported")


@review_group.command("stats")
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the statistics as JSON.")
@user_errors
def review_stats_command(db_path, as_json):
    """Counts, the precision of flags by confidence band, and agreement between reviewers.

    A reviewer's latest decision on a flag is the one counted; their earlier ones are history.
    """
    import json as jsonlib

    from classifier.review.render import review_stats

    with _store(db_path, "read") as store:
        stats = review_stats(store)
    if as_json:
        click.echo(jsonlib.dumps(stats, indent=2))
        return
    click.echo("flags: " + (", ".join(f"{k} {v}" for k, v in sorted(stats["flags"].items())) or "none"))
    click.echo("decisions: " + (", ".join(f"{k} {v}" for k, v in sorted(stats["reviews"].items())) or "none")
               + (f" ({stats['replaced']} earlier decision{'' if stats['replaced'] == 1 else 's'} replaced by the "
                  "same reviewer's later one, not counted)" if stats["replaced"] else ""))
    # "unrecorded": the share decided `crime`, i.e. offences the force had not recorded (not `already_recorded`).
    click.echo(f"{'confidence':12}{'decided':>9}{'offence precision':>19}{'unrecorded':>12}")
    for b in stats["by_confidence"]:
        prec = "-" if b["offence_precision"] is None else f"{b['offence_precision']:.3f}"
        miss = "-" if b["missed_crime_rate"] is None else f"{b['missed_crime_rate']:.3f}"
        click.echo(f"{b['confidence']:12}{b['decided']:9}{prec:>19}{miss:>12}")
    a = stats["agreement"]
    click.echo(f"reviewer agreement: {a['pairs']} incidents decided by two reviewers"
               + (f", {a['agree']} agree, kappa {a['kappa']:.3f}" if a["pairs"] else ""))
    for s in stats["audit"]:
        line = f"audit sample {s['id']}: {s['decided']} of {s['size']} decided (population {s['population']} unflagged)"
        if s.get("rate") is not None:
            line += (f"; offences among unflagged {s['rate']:.3f} (95% {s['rate_95'][0]:.3f}-{s['rate_95'][1]:.3f}); "
                     f"about {s['missed_estimate']:.0f} missed ({s['missed_95'][0]:.0f}-{s['missed_95'][1]:.0f}); "
                     f"share of offences missed {s['share_missed']:.3f} "
                     f"({s['share_missed_95'][0]:.3f}-{s['share_missed_95'][1]:.3f})")
        click.echo(line)


@review_group.command("audit-log")
@db_option
@listing_options
@user_errors
def review_audit_log_command(db_path, as_json, as_csv):
    """The flag store's audit log, oldest first: each retrain from its decisions (refused ones too), and each
    promote or rollback recorded here with --db, who did it and when."""
    fmt = _listing_format(as_json, as_csv)
    with _store(db_path, "read") as store:
        entries = store.audit_log()
    _print_audit_log(entries, fmt, "this flag store")


@cli.command("report")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The HTML file to write.")
@db_option
@offence_label_option
@click.option("--limit", type=click.IntRange(1), default=None, help="At most this many flags.")
@user_errors
def report_command(output, db_path, label, limit):
    """One self-contained HTML page of the open flags, evidence highlighted (works offline)."""
    from classifier.model_versions import write_text_atomic
    from classifier.review.html_report import render_report

    with _store(db_path, "read") as store:
        flags = store.open_flags(label=label, limit=limit)
    write_text_atomic(output, render_report(flags))
    click.echo(f"{len(flags)} open flags written to {output}")


@cli.command("retrain")
@click.option("--reviews", "reviews_path", required=True, type=click.Path(path_type=Path),
              help="Reviewed outcomes (the reviews contract, CSV or JSON Lines), e.g. from `review export`.")
@db_option
@click.option("--corpus", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of labelled *.jsonl logs [default: corpora/incidents of this checkout].")
@click.option("--holdout", type=click.FloatRange(0.05, 0.9), default=0.3, show_default=True,
              help="Share of the reviewed incidents held out to judge the candidate.")
@click.option("--force", is_flag=True, help="Promote the candidate even if the gate refuses it (recorded).")
@click.option("--held-out", "held_out", type=click.Choice(["style", "writer", "none"]), multiple=True,
              default=("style", "writer"), show_default=True,
              help="Report leave-one-style-out (or -writer-out) figures for the current model and the candidate.")
@models_root_option
@reviewer_option
@user_errors
def retrain_command(reviews_path, db_path, corpus, holdout, force, held_out, models_root, reviewer):
    """Train a candidate on the corpus plus reviewed outcomes; promote it only if it is no worse.

    The candidate and the current model are scored on the corpus test split and on held-out reviews. The
    candidate is promoted only if it misses no more of their offences (counted together), F1 falls by no
    more than 0.01 on each, and on the corpus test split it meets each target the current model meets:
    recall at least 0.97, precision in the `likely` band at least 0.92, calibration error at most 0.05.
    """
    from classifier.training.retrain import retrain as run

    corpus = _corpus(corpus)
    _home(models_root)
    with _store(db_path, "write") as store:
        result = run(reviews_path, store, corpus, _load_rules(None), models_root=models_root, holdout_share=holdout,
                     force=force, progress=_report, reviewer=reviewer,
                     held_out=tuple(dict.fromkeys(h for h in held_out if h != "none")))
    check = result["contradiction"]
    click.echo(f"reviews reject {check['rejected']} of {check['confident']} flags the current model is sure of"
               + ("; the batch contradicts the model too often" if check["suspicious"] else ""))
    for name, pair in result["gate"].items():
        cur, cand = pair["current"], pair["candidate"]
        click.echo(f"{name:18} current recall {cur['recall']:.3f} F1 {cur['f1']:.3f} | candidate recall "
                   f"{cand['recall']:.3f} F1 {cand['f1']:.3f} ({cand['n']} logs, {cand['offences']} offences)")
    from classifier.evaluation.held_out import format_held_out

    for by, pair in result.get("held_out", {}).items():
        click.echo("candidate, " + format_held_out(pair["candidate"]))
        worst = pair["current"]["worst"]
        rows = {g["group"]: g["methods"]["model"] for g in pair["current"]["groups"]}
        click.echo(f"current model, worst held-out {by}: F1 {worst['f1']} ({rows[worst['f1']]['f1']:.3f}), "
                   f"ECE {worst['ece']} ({rows[worst['ece']]['ece']:.3f})")
    for failure in result["gate_failures"]:
        click.echo(f"gate: {failure}")
    if result["candidate"] is None:
        click.echo(f"no candidate trained (current {result['parent']}): {result['decision']}; --force to train "
                   "and promote anyway")
    else:
        click.echo(f"candidate {result['candidate']} (parent {result['parent']}): {result['decision']}")


@cli.group("models")
def models_group():
    """List model versions, promote one, roll back, and show who changed the current model."""


@models_group.command("list")
@models_root_option
@listing_options
@user_errors
def models_list_command(models_root, as_json, as_csv):
    """Every model version, the home's and the shipped ones: when it was made, its dev F1, its parent, the
    retraining gate's decision, whether it is current (*) and whether it ships with the package."""
    from classifier.io.listings import format_listing
    from classifier.model_versions import list_versions
    from classifier.resources import models_home

    fmt = _listing_format(as_json, as_csv)
    versions = list_versions(models_root)

    def cells(v):
        # The current version is marked as before ("* VERSION"): scripts and eyes look for it there.
        return [f"{'*' if v['current'] else ' '} {v['version']}", v["created_at"] or "-",
                "-" if v["dev_f1"] is None else f"{v['dev_f1']:.3f}", v["parent"] or "-", v["promotion"] or "-",
                "shipped" if v["shipped"] else "home"]

    if fmt == "text":
        click.echo(f"models home: {models_home(models_root)}")
    click.echo(format_listing(versions, ["current", "version", "created_at", "dev_f1", "parent", "promotion",
                                         "shipped"], fmt, cells=cells,
                              headers=["  version", "created_at", "dev F1", "parent", "promotion", "where"]))


def record_in_store_option(func):
    return click.option("--db", "db_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="Also record this change in the audit log of this flag store (the one the "
                             "force's scans and reviews use), beside the models home's.")(func)


def _record_in_store(db_path, entry: dict) -> None:
    if db_path is not None:
        with _store(db_path, "write") as store:
            store.record_event(entry)


@models_group.command("promote")
@click.argument("version")
@click.option("--force", is_flag=True,
              help="Promote a version the retraining gate refused (recorded as forced in the audit log).")
@reviewer_option
@models_root_option
@record_in_store_option
@user_errors
def models_promote_command(version, force, reviewer, models_root, db_path):
    """Make VERSION the model classify and scan use. A version the retraining gate refused needs --force."""
    from classifier.model_versions import promote

    if db_path is not None:
        # Refuse a mistyped --db before the model changes, not after.
        _store(db_path, "write").close()
    entry = promote(version, models_root, force=force, by=reviewer)
    _record_in_store(db_path, entry)
    if entry["forced"]:
        click.echo(f"forced over the retraining gate's refusal: {'; '.join(entry['gate_failures'])}")
    click.echo(f"{version} is now the current model")


@models_group.command("rollback")
@reviewer_option
@models_root_option
@record_in_store_option
@user_errors
def models_rollback_command(reviewer, models_root, db_path):
    """Go back to the model that was current before this one."""
    from classifier.model_versions import rollback

    if db_path is not None:
        _store(db_path, "write").close()
    entry = rollback(models_root, by=reviewer)
    _record_in_store(db_path, entry)
    click.echo(f"rolled back from {entry['from']} to {entry['version']}")


@models_group.command("history")
@models_root_option
@listing_options
@user_errors
def models_history_command(models_root, as_json, as_csv):
    """The audit log of the models home, oldest first: every train, retrain (refused ones too), promote and
    rollback, who did it and when, and which went live over the retraining gate's refusal."""
    from classifier.model_versions import audit_log

    _print_audit_log(audit_log(models_root), _listing_format(as_json, as_csv), "this models home")


def _print_audit_log(entries: list[dict], fmt: str, where: str) -> None:
    from classifier.io.listings import format_listing

    if fmt == "json":
        # Every field an entry holds (gate figures, hashes), not only the table's columns.
        click.echo(json.dumps(entries, indent=2))
        return
    if not entries and fmt == "text":
        click.echo(f"no model changes recorded in {where}")
        return
    rows = []
    for e in entries:
        outcome = e.get("decision") or ""
        if e.get("forced"):
            outcome = "forced over the gate: " + "; ".join(e.get("gate_failures") or [])
        elif e.get("decision") == "refused":
            outcome = "refused: " + "; ".join(e.get("gate_failures") or [])
        rows.append({"at": e.get("at"), "action": e.get("action"), "version": e.get("version"),
                     "from": e.get("from") or e.get("parent"), "by": e.get("by"), "outcome": outcome or None})
    click.echo(format_listing(rows, ["at", "action", "version", "from", "by", "outcome"], fmt))


@cli.command("serve")
@db_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Keep the default and put the force's reverse proxy (TLS) in front.")
@click.option("--port", type=click.IntRange(1, 65535), default=8321, show_default=True)
@click.option("--second-review", "second_review", type=click.FloatRange(0.0, 1.0), default=0.1, show_default=True,
              help="Share of decided flags shown again to a second reviewer, for agreement (kappa on Stats).")
@click.option("--https-only", is_flag=True,
              help="Send the session cookie over HTTPS only: set this behind a TLS-terminating proxy.")
@click.option("--root-path", default="", help="The path prefix the reverse proxy serves the page under, e.g. /review.")
@click.option("--proxy", "forwarded_allow_ips", default=None, metavar="IPS",
              help="Trust X-Forwarded-For/-Proto from these proxy addresses (comma-separated) [default: none].")
@user_errors
def serve_command(db_path, host, port, second_review, https_only, root_path, forwarded_allow_ips):
    """The review web page for QA teams: the queue, one flag at a time with keys, audit samples, stats.

    Reviewers log in with accounts made by `users add`; decisions go to the flag store as `review decide`
    records them, under the logged-in name. Needs the web extra: pip install 'incident-classifier[web]'.
    """
    try:
        import uvicorn

        from classifier.web.app import create_app
    except ImportError as exc:
        raise click.ClickException(f"the review web page needs the web extra ({exc.name} is missing): "
                                   "pip install 'incident-classifier[web]'") from None
    path = db_path or _default_db()
    with _store(path, "write") as store:
        if not store.users():
            raise click.ClickException(f"{path}: no reviewer accounts yet; add one with `incident-classifier "
                                       "users add NAME --role admin`")
    app = create_app(path, second_review_share=second_review, https_only=https_only)
    _report(f"serving {path} on http://{host}:{port}{root_path}/ (Ctrl+C stops)")
    uvicorn.run(app, host=host, port=port, root_path=root_path, proxy_headers=forwarded_allow_ips is not None,
                forwarded_allow_ips=forwarded_allow_ips, log_level="warning", access_log=False)


def _default_db():
    from classifier.review.store import default_db

    return default_db()


@cli.group("users")
def users_group():
    """Reviewer accounts of the review web page, kept in the flag store."""


@users_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["reviewer", "admin"]), required=True,
              help="reviewer: decides flags. admin: also draws audit samples and exports decisions.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
@db_option
@user_errors
def users_add_command(name, role, password_stdin, db_path):
    """Add the account NAME, or set its role and a new password. The password is asked for (twice) unless
    --password-stdin; only a salted scrypt hash is stored."""
    from classifier.web.accounts import hash_password

    if not name.strip() or name != name.strip() or any(not c.isprintable() for c in name):
        raise click.ClickException("a user name needs printable characters, without spaces around them")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    password_hash = hash_password(password)
    with _store(db_path, "write") as store:
        new = store.add_user(name, role, password_hash)
    click.echo(f"{'added' if new else 'updated'} {name} ({role})")


@users_group.command("list")
@db_option
@listing_options
@user_errors
def users_list_command(db_path, as_json, as_csv):
    """The accounts: name, role, when made and last changed (never a password or its hash)."""
    from classifier.io.listings import format_listing

    fmt = _listing_format(as_json, as_csv)
    with _store(db_path, "read") as store:
        rows = [dict(r) for r in store.users()]
    click.echo(format_listing(rows, ["name", "role", "created_at", "updated_at"], fmt))


def main():
    cli()
