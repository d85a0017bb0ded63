"""The scan and classify runs as library calls: what the `classify` and `scan` commands do, without a terminal.

    from classifier.batch.scan import scan
    for flag in scan(incidents, crimes_by_incident, threshold=0.3):
        print(flag["incident_id"], flag["band"], flag["confidence"])

`scan` and `Flagger` work on objects in memory (a notebook, a force's own pipeline); `scan_files` and
`classify_files` run over files with rejects, checkpoints, `--resume`, worker processes or Dask, as the
commands do, and return what they counted. None of them prints: `report` receives the few lines a run has to
say (resuming, nothing to resume).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from classifier import __version__
from classifier.batch.run import RunFinished
from classifier.clock import now
from classifier.errors import SettingsError
from classifier.flags import crime_covers, make_flag
from classifier.io.readers import CrimeRecord, Incident, check_input, read_crimes, read_incidents
from classifier.io.writers import FLAG_COLUMNS, SCORE_COLUMNS, STDOUT
from classifier.pipeline.ruleset import RuleSet


def flag_thresholds(manifest: dict | None, threshold: float | None = None,
                    target_recall: float | None = None) -> tuple[float, float]:
    """(threshold, likely): the flag threshold and the start of the `likely` band.

    By default the model's own; `threshold` sets another; `target_recall` reads the threshold that reaches it
    off the model's precision-recall curve. `manifest` None: the rules alone.
    """
    from classifier.scoring.scorers import RULES_ONLY_LIKELY, RULES_ONLY_THRESHOLD
    from classifier.training.thresholds import threshold_for_recall

    if threshold is not None and target_recall is not None:
        raise SettingsError("give --threshold or --target-recall, not both")
    if manifest is None:
        if target_recall is not None:
            raise SettingsError("--target-recall needs a trained model's precision-recall curve; it does not "
                                "apply with --rules-only")
        threshold = RULES_ONLY_THRESHOLD if threshold is None else threshold
        return threshold, max(RULES_ONLY_LIKELY, threshold)
    marks = manifest["thresholds"]
    if target_recall is not None:
        # dev_curve: models trained before 2026-12-07
        threshold = threshold_for_recall([tuple(p) for p in marks.get("curve", marks.get("dev_curve"))],
                                         target_recall)
    elif threshold is None:
        threshold = marks["review"]
    return threshold, max(marks["likely"], threshold)


class Flagger:
    """The per-incident step of a scan: a scored incident and its linked crimes in, a flag (or None) out.

    With a flag store, each flag is kept there too, and an open flag whose incident now has a crime record that
    covers it is closed as already recorded. `stored` counts what happened in the store.
    """

    def __init__(self, rules: RuleSet, *, threshold: float, likely: float, scanned_at: str | None = None,
                 store=None):
        self.rules = rules
        self.threshold = threshold
        self.likely = likely
        # One time stamp for every flag of a run, so a resumed output is the output of one run.
        self.scanned_at = scanned_at or now()
        self.store = store
        self.stored: Counter = Counter()
        # Set when carrying on a stopped scan (`scan_files` with resume): the store already holds what this scan
        # did after its last checkpoint, and those incidents are counted as they were the first time.
        self.resumed = False

    def __call__(self, incident: Incident, score: dict, crimes: list[CrimeRecord]) -> dict | None:
        flag = make_flag(incident, score, crimes, threshold=self.threshold, likely=self.likely, rules=self.rules,
                         scanned_at=self.scanned_at)
        if self.store is not None:
            if flag is not None:
                what = self.store.add_flag(flag, incident)
                if what == "again" and self.resumed:
                    what = self.store.stored_by_run(incident, self.scanned_at) or what
                self.stored[what] += 1
            elif crimes and (open_flag := self.store.open_flag(incident.incident_id)) is not None:
                if any(crime_covers(c, open_flag["label"], self.rules) for c in crimes):
                    self.stored["closed as already recorded"] += self.store.close_as_recorded(
                        incident.incident_id, at=self.scanned_at)
            elif crimes and self.resumed and (what := self.store.stored_by_run(incident, self.scanned_at,
                                                                                closed=True)):
                self.stored[what] += 1
        return flag


def scan(incidents: Iterable[Incident | dict], crimes: dict[str, list[CrimeRecord]] | None = None, *,
         scorer=None, model: str | Path | None = None, rules: str | Path | None = None, rules_only: bool = False,
         threshold: float | None = None, target_recall: float | None = None) -> Iterator[dict]:
    """The flags of `incidents` (Incident objects, or dicts with at least `incident_id` and `text`), in order.

    crimes: linked crime records by incident id (`classifier.io.readers.read_crimes` reads a file of them).
    The scorer is built from `model`/`rules`/`rules_only` unless one is given (`classifier.api.load_scorer`).
    """
    from classifier.api import load_scorer

    scorer = scorer or load_scorer(model=model, rules=rules, rules_only=rules_only)
    low, likely = flag_thresholds(getattr(scorer, "manifest", None), threshold, target_recall)
    flagger = Flagger(scorer.rules, threshold=low, likely=likely)
    crimes = crimes or {}
    # A flag the model raises with no rule cue explains itself (the model's terms), at this scan's threshold.
    scorer = scorer.explaining_from(low)
    for incident, score in scorer.score(_as_incident(x, n) for n, x in enumerate(incidents, start=1)):
        flag = flagger(incident, score, crimes.get(incident.incident_id, []))
        if flag is not None:
            yield flag


def _as_incident(item: Incident | dict, line: int) -> Incident:
    if isinstance(item, Incident):
        return item
    known = {"incident_id", "text", "opened_at", "opening_code", "closing_code"}
    return Incident(line=line, extra={k: v for k, v in item.items() if k not in known},
                    **{k: item.get(k) for k in known if k in item})


@dataclass
class RunSummary:
    """What a file run counted: for the closing lines of the command, or a data engineer's own log."""

    model: str
    rules: str
    written: int
    rejected: int
    rejects: str
    scored: int = 0
    threshold: float | None = None
    likely: float | None = None
    stored: dict = field(default_factory=dict)
    # Set when --resume found the run already finished (at this time): nothing was done, the counts are its.
    finished_at: str | None = None


def open_run(*, command: str, output: str, columns: list[str], rejects_target: str, inputs: list[Path],
             settings: dict, resume: bool, quiet: bool, state=None, report: Callable[[str], None] | None = None):
    """A `Run` whose checkpoint is keyed by the command, the tool's version, the inputs and the settings."""
    from classifier.batch.checkpoint import file_fingerprint
    from classifier.batch.run import ResumeError, Run

    say = report or (lambda message: None)
    fingerprint = {"command": command, "version": __version__,
                   "inputs": [file_fingerprint(p) for p in inputs], "settings": settings}
    try:
        run = Run(output=output, columns=columns, rejects_target=rejects_target, fingerprint=fingerprint,
                  resume=resume, quiet=quiet, state=state)
    except ResumeError as exc:
        raise SettingsError(str(exc)) from None
    except RunFinished as done:
        say(f"nothing to resume: this run finished at {done.marker['finished_at']} and {output} is complete; "
            "it is left as it is (run without --resume to start again)")
        raise
    if resume and run.resumed is None:
        say("nothing to resume: no checkpoint beside the output; starting from the beginning")
    elif run.resumed is not None:
        say(f"resuming after {run.skip_incidents} incidents")
    return run


def spill_beside(output: str) -> Path | None:
    """Where a run keeps its temporary copy of rows that are not grouped by incident: `.NAME.grouping.sqlite`
    beside the output, where the operator (and the next run, which replaces it) finds one a killed run left.
    With output on stdout, the system's temporary folder (None)."""
    if output == STDOUT:
        return None
    output_path = Path(output)
    return output_path.with_name(f".{output_path.name}.grouping.sqlite")


def rejects_beside(output: str, source: Path) -> str:
    """Where rows that cannot be used go by default: beside the output as NAME.rejects.jsonl."""
    # With output on stdout there is no output folder: the rejects go to the current one.
    base = Path(source.name) if output == STDOUT else Path(output)
    return str(base.with_name(base.name.split(".")[0] + ".rejects.jsonl"))


def classify_files(incidents: Path, output: str, *, scoring, encoding: str = "utf-8",
                   rejects: str | None = None, resume: bool = False, quiet: bool = True,
                   report: Callable[[str], None] | None = None) -> RunSummary:
    """Score every incident of a file into `output` (.jsonl, .csv or - for standard output).

    scoring: a `classifier.batch.workers.Scoring` (rules, model and worker processes, checked).
    """
    # Every input is refused up front, before an output is started, with the readers' own words.
    check_input(incidents)
    rejects_target = rejects or rejects_beside(output, incidents)
    settings = {"model": scoring.model_name, "rules": scoring.rules.version, "encoding": encoding,
                "rejects": rejects_target}
    try:
        run = open_run(command="classify", output=output, columns=SCORE_COLUMNS, rejects_target=rejects_target,
                       inputs=[incidents], settings=settings, resume=resume, quiet=quiet, report=report)
    except RunFinished as done:
        m = done.marker
        return RunSummary(model=scoring.model_name, rules=scoring.rules.version, written=m["written"],
                          rejected=m["rejects"], rejects=rejects_target, scored=m["written"],
                          finished_at=m["finished_at"])
    with run, contextlib.closing(read_incidents(incidents, encoding=encoding, on_reject=run.on_reject,
                                                on_total=run.on_total, spill_to=spill_beside(output))) as stream:
        for _, score in scoring.score(run.pending(stream)):
            run.out.write(score)
            run.done()
    return RunSummary(model=scoring.model_name, rules=scoring.rules.version, written=run.out.count,
                      rejected=run.rejects.count, rejects=rejects_target, scored=run.out.count)


def scan_files(incidents: Path, crimes: Path, output: str, *, scoring, encoding: str = "utf-8",
               rejects: str | None = None, threshold: float | None = None, target_recall: float | None = None,
               store=None, engine: str = "local", scheduler: str | None = None, resume: bool = False,
               quiet: bool = True, report: Callable[[str], None] | None = None) -> RunSummary:
    """Flag the incidents of a file (or, with engine "dask", a folder of partitions) into `output`.

    store: a `classifier.review.store.FlagStore` to keep the flags in for review, or None.
    """
    if engine == "dask":
        from classifier.batch.dask_workers import partitions

        if resume:
            raise SettingsError("--resume applies to --engine local; rerun a Dask scan in full")
        files = partitions(incidents)
    elif scheduler:
        raise SettingsError("--scheduler needs --engine dask")
    else:
        files = [incidents]
    for path in [*files, crimes]:
        check_input(path)
    threshold, likely = flag_thresholds(scoring.manifest, threshold, target_recall)
    scoring.flag_from(threshold)
    rejects_target = rejects or rejects_beside(output, incidents)
    settings = {"model": scoring.model_name, "rules": scoring.rules.version, "threshold": threshold,
                "likely": likely, "encoding": encoding, "rejects": rejects_target,
                "db": str(Path(store.path).resolve()) if store is not None else None}
    flagger = Flagger(scoring.rules, threshold=threshold, likely=likely, store=store)
    counts = {"scored": 0}

    def state() -> dict:
        return {"scanned_at": flagger.scanned_at, "scored": counts["scored"], "stored": dict(flagger.stored)}

    try:
        run = open_run(command="scan", output=output, columns=FLAG_COLUMNS, rejects_target=rejects_target,
                       inputs=[*files, crimes], settings=settings, resume=resume, quiet=quiet, state=state,
                       report=report)
    except RunFinished as done:
        m = done.marker
        return RunSummary(model=scoring.model_name, rules=scoring.rules.version, written=m["written"],
                          rejected=m["rejects"], rejects=rejects_target, scored=m["scored"], threshold=threshold,
                          likely=likely, stored=m["stored"], finished_at=m["finished_at"])
    with contextlib.ExitStack() as stack, run:
        if run.resumed:
            flagger.scanned_at = run.resumed["scanned_at"]
            counts["scored"] = run.resumed["scored"]
            flagger.stored = Counter(run.resumed["stored"])
            flagger.resumed = True
        linked = read_crimes(crimes, encoding=encoding, on_reject=run.on_reject)
        if engine == "dask":
            from classifier.batch.dask_workers import client_for, score_partitions

            client = stack.enter_context(client_for(scheduler, scoring.workers))
            scored = score_partitions(client, scoring.spec, files, encoding=encoding, on_reject=run.on_reject)
        else:
            stream = stack.enter_context(contextlib.closing(
                read_incidents(incidents, encoding=encoding, on_reject=run.on_reject, on_total=run.on_total,
                               spill_to=spill_beside(output))))
            scored = scoring.score(run.pending(stream))
        for incident, score in scored:
            counts["scored"] += 1
            flag = flagger(incident, score, linked.get(incident.incident_id, []))
            if flag is not None:
                run.out.write(flag)
            run.done()
    return RunSummary(model=scoring.model_name, rules=scoring.rules.version, written=run.out.count,
                      rejected=run.rejects.count, rejects=rejects_target, scored=counts["scored"],
                      threshold=threshold, likely=likely, stored=dict(flagger.stored))
