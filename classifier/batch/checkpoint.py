"""Checkpoints of a scan or classify run, so that `--resume` after a kill gives the output of an unbroken run.

Every few seconds the run makes its partial outputs durable and records, in `.NAME.checkpoint.json` beside
the output, how many incidents it has written out, how many rows it has rejected, the byte length and
record count of each partial output at that moment, and a fingerprint of the inputs and settings. The
checkpoint is replaced atomically, so a kill at any instant leaves either the old or the new one.

Resuming truncates each partial output to its recorded length, reads the input again from the start,
skips the incidents and rejects already written, and carries on. Input order is deterministic, so the
result is the same bytes as a run that was never stopped; the run's timestamp is kept in the checkpoint.

A run that finishes replaces its checkpoint with a small marker, `.NAME.finished.json` (the fingerprint, when
it finished and its counts), so that `--resume` of a run that already finished says so and leaves its output
alone instead of running it again under a new timestamp. A new run without `--resume` removes the marker.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from classifier.clock import now
from classifier.errors import InputError
from classifier.io.writers import RecordWriter, partial_path

FORMAT = 1
# How often a run makes its outputs durable; the environment variable is for tests and slow disks.
EVERY_SECONDS = float(os.environ.get("INCIDENT_CLASSIFIER_CHECKPOINT_SECONDS", "2"))


def checkpoint_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(f".{output.name}.checkpoint.json")


def finished_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(f".{output.name}.finished.json")


def file_fingerprint(path: str | Path | None) -> dict | None:
    if path is None:
        return None
    try:
        stat = Path(path).stat()
    except FileNotFoundError:
        raise InputError(path, None, "no such file") from None
    except OSError as exc:
        raise InputError(path, None, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    return {"path": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


class Checkpoint:
    def __init__(self, output: str | Path, fingerprint: dict):
        self.output = Path(output)
        self.path = checkpoint_path(output)
        self.finished_path = finished_path(output)
        self.fingerprint = fingerprint
        self.state: dict | None = None
        self._saved_at = time.monotonic()

    def resume(self) -> dict | None:
        """The saved state to carry on from, or None if there is nothing to resume; refuses other inputs."""
        if not self.path.exists():
            return None
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(self.path, None, f"unreadable checkpoint ({exc}); run again without --resume") from None
        if state.get("format") != FORMAT or state.get("fingerprint") != self.fingerprint:
            raise InputError(
                self.path, None,
                "this checkpoint belongs to a run with other input files or settings; "
                "run again with the same ones, or without --resume to start over",
            )
        if not partial_path(self.output).exists():
            return None
        self.state = state
        return state

    def due(self) -> bool:
        return time.monotonic() - self._saved_at >= EVERY_SECONDS

    def save(self, *, incidents: int, rejects: int, writers: dict[str, RecordWriter], extra: dict) -> None:
        state = {
            "format": FORMAT,
            "fingerprint": self.fingerprint,
            "incidents": incidents,
            "rejects": rejects,
            "outputs": {name: list(writer.mark()) for name, writer in writers.items()},
            **extra,
        }
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self.state = state
        self._saved_at = time.monotonic()

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def finished(self) -> dict | None:
        """The marker of a finished run of these inputs and settings whose output is still there, or None."""
        try:
            marker = json.loads(self.finished_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if marker.get("format") != FORMAT or marker.get("fingerprint") != self.fingerprint or not self.output.exists():
            return None
        return marker

    def finish(self, **counts) -> None:
        """The run is complete and its outputs in place: the checkpoint gives way to the finished marker."""
        marker = {"format": FORMAT, "fingerprint": self.fingerprint, "finished_at": now(), **counts}
        tmp = self.finished_path.with_name(self.finished_path.name + ".tmp")
        tmp.write_text(json.dumps(marker), encoding="utf-8")
        os.replace(tmp, self.finished_path)
        self.remove()

    def forget_finished(self) -> None:
        self.finished_path.unlink(missing_ok=True)
