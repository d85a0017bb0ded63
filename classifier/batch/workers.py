"""Score a stream of incidents in this process or in N worker processes, in input order, in bounded memory.

The reader stays in the calling process; incidents go to the workers in chunks, and at most two chunks per
worker are in flight, so memory does not grow with the input. Each worker builds the pipeline and loads the
model once. The results come back in the order the incidents were read, so the output of N workers is the
output of one.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from classifier.io.readers import Incident
from classifier.pipeline.ruleset import RuleSet

# A chunk is sent when it holds this many incidents or this much text, whichever comes first: an incident
# with thousands of entries must not make a chunk of hundreds of megabytes.
CHUNK_INCIDENTS = 128
CHUNK_CHARS = 2_000_000
IN_FLIGHT_PER_WORKER = 2


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ScorerSpec:
    """What a process needs to build the same scorer: the rules folder and the model folder (None: rules only)."""

    rules_path: Path | None
    model_folder: Path | None
    # Where a scan flags below the model's threshold: the model's terms are evidence from there (ModelScorer).
    model_evidence_from: float | None = None

    def build(self, rules: RuleSet | None = None):
        from classifier.pipeline.ruleset import load_rules
        from classifier.scoring.scorers import ModelScorer, RuleScorer

        rules = rules or load_rules(self.rules_path)
        if self.model_folder is None:
            return RuleScorer(rules)
        return ModelScorer(rules, self.model_folder, model_evidence_from=self.model_evidence_from)


class Scoring:
    """Rules, model identity and thresholds, checked in this process; scoring in this process or in workers."""

    def __init__(self, spec: ScorerSpec, *, workers: int = 1):
        from classifier.model_versions import verify_model
        from classifier.pipeline.ruleset import load_rules

        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.spec = spec
        self.workers = workers
        self.rules = load_rules(spec.rules_path)
        # One check of the model per process: scoring here loads (and so verifies) it once; with workers, this
        # process only verifies it, before any worker starts, so a bad model is one clear error and not N.
        self._local = spec.build(self.rules) if workers == 1 else None
        if spec.model_folder is None:
            # Imported here: with a model and workers, this process never loads spaCy (the workers do).
            from classifier.scoring.scorers import rules_model_name

            self.manifest = None
            self.model_name = rules_model_name(self.rules)
        elif self._local is not None:
            self.manifest = self._local.manifest
            self.model_name = self.manifest["version"]
        else:
            _, self.manifest = verify_model(spec.model_folder, rules_version=self.rules.version)
            self.model_name = self.manifest["version"]

    def flag_from(self, threshold: float) -> None:
        """Flags will be raised from `threshold`: a log the model raises there with no active rule cue gets the
        model's terms as evidence even below the model's own threshold."""
        self.spec = dataclasses.replace(self.spec, model_evidence_from=threshold)
        if self._local is not None:
            self._local = self._local.explaining_from(threshold)

    def score(self, incidents: Iterable[Incident]) -> Iterator[tuple[Incident, dict]]:
        if self._local is not None:
            yield from self._local.score(incidents)
            return
        yield from _score_in_workers(self.spec, incidents, self.workers)


def _chunks(incidents: Iterable[Incident]) -> Iterator[list[Incident]]:
    chunk: list[Incident] = []
    chars = 0
    for incident in incidents:
        chunk.append(incident)
        chars += len(incident.text)
        if len(chunk) >= CHUNK_INCIDENTS or chars >= CHUNK_CHARS:
            yield chunk
            chunk, chars = [], 0
    if chunk:
        yield chunk


def _score_in_workers(spec: ScorerSpec, incidents: Iterable[Incident], workers: int):
    # spawn, not fork: a forked copy of a process holding SQLite connections and threads is not safe.
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_start_worker, initargs=(spec,)) as pool:
        pending: deque = deque()
        for chunk in _chunks(incidents):
            pending.append((chunk, pool.apply_async(_score_chunk, (chunk,))))
            if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                done, result = pending.popleft()
                yield from zip(done, result.get())
        while pending:
            done, result = pending.popleft()
            yield from zip(done, result.get())


_worker_scorer = None
_worker_failure: str | None = None


def _start_worker(spec: ScorerSpec) -> None:
    # An exception here would make the pool start replacement workers for ever; keep it for the first chunk.
    global _worker_scorer, _worker_failure
    _die_with_parent()
    try:
        _worker_scorer = spec.build()
    except Exception as exc:  # noqa: BLE001
        _worker_failure = f"{type(exc).__name__}: {exc}"


def _die_with_parent() -> None:
    """On Linux, end this worker when the scan that started it is killed (SIGKILL leaves no time to tidy up)."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _score_chunk(chunk: list[Incident]) -> list[dict]:
    if _worker_failure is not None:
        raise RuntimeError(f"a worker could not start: {_worker_failure}")
    return [score for _, score in _worker_scorer.score(chunk)]
