"""One classify or scan run over a file: its outputs, rejects, progress line and checkpoints.

The run owns what must agree with one another for `--resume` to give the bytes of an unbroken run: the
partial outputs, the count of incidents whose results are written, and the count of rejected rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator

from classifier.batch.checkpoint import Checkpoint
from classifier.io.readers import Incident, Reject
from classifier.io.writers import REJECT_COLUMNS, STDOUT, RecordWriter
from classifier.batch.progress import Progress


class ResumeError(Exception):
    """--resume asked of a run that cannot resume (output on stdout)."""


class RunFinished(Exception):
    """--resume asked of a run that already finished: its output is complete, and nothing is done."""

    def __init__(self, marker: dict):
        super().__init__(f"finished at {marker['finished_at']}")
        self.marker = marker


class Run:
    def __init__(self, *, output: str, columns: list[str], rejects_target: str, fingerprint: dict,
                 resume: bool = False, quiet: bool = False, state: Callable[[], dict] | None = None):
        """state: what else the checkpoint must carry (counters, the run's timestamp), read at each save."""
        if resume and output == STDOUT:
            raise ResumeError("--resume needs an output file: a stream already sent cannot be taken back")
        self.progress = Progress(quiet=quiet)
        self.extra_state = state or dict
        self.checkpoint = None if output == STDOUT else Checkpoint(output, fingerprint)
        saved = self.checkpoint.resume() if (resume and self.checkpoint) else None
        if self.checkpoint is not None and saved is None:
            if resume and (marker := self.checkpoint.finished()) is not None:
                raise RunFinished(marker)
            # A new run: until it finishes, the last one's marker would say of this output what is not so.
            self.checkpoint.forget_finished()
        # The checkpoint carried on from (positions and the caller's state), or None when starting afresh.
        self.resumed = saved
        self.skip_incidents = saved["incidents"] if saved else 0
        self.skip_rejects = saved["rejects"] if saved else 0
        resumable = self.checkpoint is not None
        self.rejects = RecordWriter(rejects_target, columns=REJECT_COLUMNS, resumable=resumable,
                                    resume_at=tuple(saved["outputs"]["rejects"]) if saved else None)
        try:
            self.out = RecordWriter(output, columns=columns, resumable=resumable,
                                    resume_at=tuple(saved["outputs"]["output"]) if saved else None)
        except BaseException:
            self.rejects.abort()
            raise
        self.incidents_done = self.skip_incidents
        self.rejects_seen = 0

    def on_reject(self, reject: Reject) -> None:
        self.rejects_seen += 1
        if self.rejects_seen > self.skip_rejects:
            self.rejects.write(reject.to_dict())

    def on_total(self, total: int) -> None:
        self.progress.set_total(total)

    def pending(self, incidents: Iterable[Incident]) -> Iterator[Incident]:
        """The incidents still to score: those a resumed run already wrote out are read and skipped."""
        self.progress.done = self.skip_incidents
        return itertools.islice(incidents, self.skip_incidents, None)

    def done(self) -> None:
        """One more incident's results are written out."""
        self.incidents_done += 1
        self.progress.advance()
        if self.checkpoint is not None and self.checkpoint.due():
            self.save()

    def save(self) -> None:
        self.checkpoint.save(incidents=self.incidents_done, rejects=self.rejects_seen,
                             writers={"output": self.out, "rejects": self.rejects}, extra=self.extra_state())

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.progress.close()
        if exc_type is None:
            self.rejects.close()
            self.out.close()
            if self.checkpoint is not None:
                self.checkpoint.finish(incidents=self.incidents_done, rejects=self.rejects_seen,
                                       written=self.out.count, **self.extra_state())
        elif issubclass(exc_type, KeyboardInterrupt) and self.checkpoint is not None:
            # Interrupted by the operator: keep the partial outputs and the last checkpoint for --resume.
            pass
        else:
            self.out.abort()
            self.rejects.abort()
            if self.checkpoint is not None:
                self.checkpoint.remove()
