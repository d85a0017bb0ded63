"""`scan --engine dask`: score partitioned input on a dask.distributed cluster.

Each partition (one file: CSV, JSON Lines or Parquet) is read and scored by a task on a worker, with this
package's own reader, so rejects and entry joining are the same as in a local run; an incident's entries
must therefore all be in one partition. Each worker process builds the pipeline and loads the model once
and keeps it for every partition it scores. The client takes the results back partition by partition, in
the order of the partition list, and makes the flags, so the flags are those of a local scan over the
partitions one after another.

Dask is an optional extra: `pip install 'incident-classifier[dask]'`.
"""

from __future__ import annotations

import contextlib
import functools
import glob
from collections.abc import Iterator
from pathlib import Path

from classifier.errors import InputError
from classifier.io.readers import FORMATS, Incident, Reject, read_incidents
from classifier.batch.workers import ScorerSpec


def partitions(source: str | Path) -> list[Path]:
    """The partition files of SOURCE: a folder (its data files, sorted by name), a glob pattern, or one file."""
    source = str(source)
    if Path(source).is_dir():
        found = sorted(p for p in Path(source).iterdir() if p.suffix.lower() in FORMATS and not p.name.startswith("."))
    elif any(ch in source for ch in "*?["):
        found = sorted(Path(p) for p in glob.glob(source) if Path(p).suffix.lower() in FORMATS)
    else:
        found = [Path(source)]
    if not found:
        raise InputError(source, None, "no partition files (.csv, .jsonl or .parquet) found")
    return found


@contextlib.contextmanager
def client_for(scheduler: str | None, workers: int):
    """A client of the cluster at SCHEDULER, or of a local cluster of `workers` single-threaded processes
    that is shut down with it."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise InputError("--engine dask", None,
                         "needs the dask extra: pip install 'incident-classifier[dask]'") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout="30s")
        except OSError as exc:
            raise InputError(scheduler, None, f"cannot reach the Dask scheduler ({exc})") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        yield client


def score_partitions(client, spec: ScorerSpec, files: list[Path], *, encoding: str,
                     on_reject) -> Iterator[tuple[Incident, dict]]:
    """(incident, score) for every incident of every partition, in partition order then file order."""
    futures = client.map(score_partition, [str(f) for f in files], spec=spec, encoding=encoding, pure=False)
    for future in futures:
        result = future.result()
        future.release()
        if "error" in result:
            raise InputError(result["error"]["path"], result["error"]["line"], result["error"]["problem"])
        for reject in result["rejects"]:
            on_reject(Reject(**reject))
        yield from result["scored"]


@functools.lru_cache(maxsize=4)
def worker_scorer(spec: ScorerSpec):
    """The scorer of this worker process: built on its first partition, kept for the rest."""
    return spec.build()


def score_partition(path: str, *, spec: ScorerSpec, encoding: str) -> dict:
    rejects: list[dict] = []

    def keep(reject: Reject) -> None:
        rejects.append({"path": reject.path, "line": reject.line, "reason": reject.reason, "row": reject.row})

    try:
        scored = list(worker_scorer(spec).score(read_incidents(path, encoding=encoding, on_reject=keep)))
    except InputError as exc:
        # Sent back as data: the client raises it as the same one-line error a local run gives.
        return {"error": {"path": str(exc.path), "line": exc.line, "problem": exc.problem}}
    return {"scored": scored, "rejects": rejects}
