"""Listings a command prints (the review queue, the rules, the model versions): a table for people, JSON or CSV
for scripts, from the same records."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence

FORMATS = ("text", "json", "csv")


def format_listing(records: Sequence[dict], columns: Sequence[str], fmt: str = "text", *,
                   cells: Callable[[dict], Sequence[str]] | None = None,
                   headers: Sequence[str] | None = None) -> str:
    """The records as text (a header row, then one aligned row per record), JSON (a list of objects) or CSV
    (a header row, then one row per record), each record given by `columns`.

    For text only, `cells` turns a record into the strings of its row (default: each column's value, `-` for
    none) and `headers` names the columns (default: the column names).
    """
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {FORMATS}")
    rows = [{c: r.get(c) for c in columns} for r in records]
    if fmt == "json":
        # ASCII escapes: a control character in a stored value reaches the terminal as text, not as a command.
        return json.dumps(rows, indent=2)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().rstrip("\n")
    table = [list(headers or columns)]
    table += [list(cells(r)) if cells else ["-" if r[c] is None else str(r[c]) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    # The last column is not padded: no trailing spaces, and a long description may run on.
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(row[:-1], widths)), row[-1]])
                     for row in table)
