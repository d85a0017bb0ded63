"""Errors a user can act on: each names the file, the line and what is wrong."""

from __future__ import annotations

from pathlib import Path


class InputError(Exception):
    """Unusable input. The message never quotes incident text."""

    def __init__(self, path: str | Path | None, line: int | None, problem: str):
        self.path = str(path) if path is not None else None
        self.line = line
        self.problem = problem
        super().__init__(self.format())

    def format(self) -> str:
        if self.path is None and self.line is None:
            return self.problem
        where = self.path or "<input>"
        if self.line is not None:
            where += f": line {self.line}"
        return f"{where}: {self.problem}"


class RuleError(Exception):
    """A rule file that does not validate: names the file, the line and the bad value."""


class ModelError(Exception):
    """A model artefact that cannot be used."""
