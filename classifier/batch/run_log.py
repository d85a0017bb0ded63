"""One record per run of `classify` or `scan`, appended to a log file for whoever watches the nightly job.

A record holds counts, times and versions, never incident text: the inputs are named by path and size, and an
error by its one-line message (which names a file, a line and what is wrong, never the text) or, for a fault in
the tool, by its type alone.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

from classifier import __version__
from classifier.clock import now
from classifier.errors import InputError, UserError


@contextmanager
def run_log(path: Path | None, *, command: str, inputs: list[Path]):
    """Yield a dict the run fills in (`record["summary"] = ...`); on any exit, append the record to `path`.

    path None: no log. A log that cannot be written is a user error, raised before the run starts.
    """
    if path is None:
        yield {}
        return
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as exc:
        raise InputError(path, None, f"cannot write the run log: {exc.strerror or exc}") from None
    record: dict = {"command": command, "version": __version__, "started_at": now(), "pid": os.getpid(),
                    "inputs": [_described(p) for p in inputs]}
    start = time.monotonic()
    try:
        yield record
        record["status"] = "ok"
    except UserError as exc:
        record.update(status="error", error=str(exc))
        raise
    except KeyboardInterrupt:
        record["status"] = "stopped"
        raise
    except BaseException as exc:
        record.update(status="internal error", error=type(exc).__name__)
        raise
    finally:
        record["finished_at"] = now()
        record["seconds"] = round(time.monotonic() - start, 3)
        summary = record.pop("summary", None)
        if summary is not None:
            counts = {k: v for k, v in asdict(summary).items() if v is not None}
            # A --resume of a run already finished did nothing; say when that run finished.
            if "finished_at" in counts:
                counts["already_finished_at"] = counts.pop("finished_at")
            record.update(counts)
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def _described(path: Path) -> dict:
    try:
        return {"path": str(path), "bytes": Path(path).stat().st_size}
    except OSError:
        return {"path": str(path), "bytes": None}
