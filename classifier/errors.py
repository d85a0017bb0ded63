"""Errors a user can act on: each names the file, the line and what is wrong.

Every failure that a user, a file or a setting can cause is a `UserError`. The command line turns one into
a single line and exit code 1 (`classifier.cli.user_errors`); any other exception is a fault of this tool
(exit code 2). Messages never quote incident text.
"""

from __future__ import annotations

from pathlib import Path


class UserError(Exception):
    """A failure the user can fix (input, rules, model, settings): one line, exit code 1."""


class InputError(UserError):
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


class RuleError(UserError):
    """A rule file that does not validate: names the file, the line and the bad value."""


class ModelError(UserError):
    """A model artefact that cannot be used."""


class SettingsError(UserError, ValueError):
    """Settings that do not go together (a threshold and a target recall; --resume with Dask)."""
