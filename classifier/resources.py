"""Where the shipped rules and model are, and where a force's own models live.

An installed wheel carries the rules and the default model as `classifier/rules` and `classifier/models`
(pyproject maps the top-level folders there); a source checkout has them beside the package. Both are found
through the package, never the current directory, and both are read-only: what `train`, `retrain`,
`promote` and `rollback` write goes to the models home (`models_home`), outside the package, so that an
upgrade or reinstall neither loses a force's models nor is refused for writing into site-packages.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
HOME_ENV = "INCIDENT_CLASSIFIER_HOME"
APP_NAME = "incident-classifier"


def _data_dir(name: str) -> Path:
    installed = _PACKAGE / name
    if installed.is_dir():
        return installed
    return _PACKAGE.parent / name


def rules_dir() -> Path:
    return _data_dir("rules")


def shipped_models_dir() -> Path:
    """The model that ships with the tool: the default until one is made current in the models home."""
    return _data_dir("models")


def models_home(explicit: str | Path | None = None) -> Path:
    """The folder of trained model versions, their current.json and audit log.

    `--models DIR` (explicit), else `$INCIDENT_CLASSIFIER_HOME/models`, else `models/` in the user's data
    folder. The variable names a home for the tool rather than the models folder itself, so that whatever
    else a force keeps per installation can sit beside the models.
    """
    if explicit:
        return Path(explicit).expanduser()
    home = os.environ.get(HOME_ENV)
    if home:
        return Path(home).expanduser() / "models"
    from platformdirs import user_data_dir

    # appauthor=False: on Windows, no second folder named after a publisher.
    return Path(user_data_dir(APP_NAME, appauthor=False)) / "models"


def inside_package(path: str | Path) -> bool:
    """True for the package and the shipped models folder, which nothing may write into."""
    target = Path(path).expanduser().resolve()
    return any(target.is_relative_to(folder.resolve()) for folder in (_PACKAGE, shipped_models_dir()))


def corpus_dir() -> Path:
    """The labelled corpus of a source checkout (it does not ship in the package)."""
    return _PACKAGE.parent / "corpora" / "incidents"
