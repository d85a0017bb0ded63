"""Peak memory of reading incident logs, for files of growing size: it should not grow with the file.

    python benchmarks/reader_memory.py            # 20,000 and 200,000 incidents, 3 entries each
    python benchmarks/reader_memory.py --interleave   # entries of different incidents interleaved

Each size runs in its own process and prints rows read, seconds and peak resident memory (MB).
"""

from __future__ import annotations

import argparse
import csv
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ENTRY = "{n:02d}:1{k} OP {k}12 // RP states neighbour shouting in the street, units en route, log {i} entry {k}"


def make_file(path: Path, incidents: int, interleave: bool) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["incident_id", "entry_seq", "text"])
        if interleave:
            # Entries arrive in time order across incidents, as some CAD exports give them.
            for start in range(0, incidents, 1000):
                block = range(start, min(start + 1000, incidents))
                for k in range(3):
                    for i in block:
                        writer.writerow([f"X-{i:07d}", k, ENTRY.format(n=i % 24, k=k, i=i)])
        else:
            for i in range(incidents):
                for k in range(3):
                    writer.writerow([f"X-{i:07d}", k, ENTRY.format(n=i % 24, k=k, i=i)])


def measure(path: str) -> None:
    from classifier.io.readers import read_incidents

    started = time.perf_counter()
    count = sum(1 for _ in read_incidents(path))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{count:>9} incidents  {seconds:7.1f} s  peak RSS {peak_mb:6.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--interleave", action="store_true")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure)
        return
    with tempfile.TemporaryDirectory() as folder:
        for size in args.sizes:
            path = Path(folder) / f"logs-{size}.csv"
            make_file(path, size, args.interleave)
            mb = path.stat().st_size / 1e6
            print(f"file {mb:7.1f} MB ", end="", flush=True)
            subprocess.run([sys.executable, __file__, "--measure", str(path)], check=True)


if __name__ == "__main__":
    main()
