"""Where the shipped rules and models are: found through the package, never the current directory.

An installed wheel carries them as `classifier/rules` and `classifier/models` (pyproject maps the top-level
folders there); a source checkout has them beside the package.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name


def rules_dir() -> Path:
    return _data_dir("rules")


def models_dir() -> Path:
    return _data_dir("models")


def corpus_dir() -> Path:
    """The labelled corpus of a source checkout (it does not ship in the package)."""
    return _PACKAGE.parent / "corpora" / "incidents"
