"""Model versions on disk: `models/<version>/model.joblib` beside `manifest.json`, and `models/current.json`.

Loading a joblib file runs code, so the file's SHA-256 is checked against its manifest first, and the
libraries it was trained with against the ones installed. The manifest also pins the rule set the
model's features were computed with: a model is refused with rules other than its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from classifier.clock import now
from classifier.errors import ModelError
from classifier.resources import models_dir

MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "current.json"
# A pickle is only portable within the same minor version of these libraries.
PINNED_LIBRARIES = ("scikit-learn", "numpy", "scipy", "joblib")


def library_versions() -> dict[str, str]:
    from importlib.metadata import version

    versions = {"python": platform.python_version()}
    for name in (*PINNED_LIBRARIES, "spacy", "spacy-lookups-data"):
        versions[name] = version(name)
    return versions


def _minor(v: str) -> str:
    return ".".join(v.split(".")[:2])


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_text_atomic(path: Path, text: str) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.resolve().parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)  # mkstemp makes it private; a model or pointer file is meant to be read by others
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


@dataclass
class ModelVersion:
    folder: Path
    manifest: dict

    @property
    def version(self) -> str:
        return self.manifest["version"]


def _root(root: Path | None) -> Path:
    """The models folder asked for, or the shipped one (a force's own lives outside the package: --models)."""
    return Path(root) if root else models_dir()


def save_model(estimator, manifest: dict, *, root: Path | None = None) -> ModelVersion:
    """Write the estimator and its manifest as a new version folder; the version names the file's hash."""
    import joblib

    root = _root(root)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=".staging-"))
    joblib.dump(estimator, staging / MODEL_FILE, compress=3)
    digest = sha256_file(staging / MODEL_FILE)
    created = datetime.now(timezone.utc)
    version = f"{created:%Y-%m-%d}-{digest[:6]}"
    manifest = {
        "version": version,
        "created_at": created.isoformat(timespec="seconds"),
        "file": MODEL_FILE,
        "sha256": digest,
        "libraries": library_versions(),
        **manifest,
    }
    write_json_atomic(staging / MANIFEST_FILE, manifest)
    os.chmod(staging, 0o755)
    folder = root / version
    if folder.exists():
        # Training is deterministic: the same data and settings give the same file, hence the same version.
        shutil.rmtree(staging)
        existing = read_manifest(folder)
        if existing.get("sha256") != digest:
            raise ModelError(f"{folder}: a different model version with this name already exists")
        return ModelVersion(folder, existing)
    os.replace(staging, folder)
    return ModelVersion(folder, manifest)


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST_FILE
    if not path.is_file():
        raise ModelError(f"{folder}: no {MANIFEST_FILE}; not a model version folder")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: line {exc.lineno}: malformed JSON: {exc.msg}") from None


def current_version(root: Path | None = None) -> str | None:
    root = _root(root)
    path = root / CURRENT_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8")).get("version")


def _pointer(root: Path) -> dict:
    path = root / CURRENT_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def set_current(version: str, root: Path | None = None, *, note: str | None = None) -> None:
    """Make `version` current; the one it replaces goes on the history that `rollback` returns to."""
    root = _root(root)
    if not (root / version / MANIFEST_FILE).is_file():
        raise ModelError(f"{root / version}: no such model version")
    pointer = _pointer(root)
    history = list(pointer.get("history", []))
    if pointer.get("version") and pointer["version"] != version:
        history.append({"version": pointer["version"], "set_at": pointer.get("set_at")})
    data = {"version": version, "set_at": now(),
            "history": history}
    if note:
        data["note"] = note
    write_json_atomic(root / CURRENT_FILE, data)


def rollback(root: Path | None = None) -> tuple[str, str]:
    """Return to the version that was current before this one: (from, to)."""
    root = _root(root)
    pointer = _pointer(root)
    history = list(pointer.get("history", []))
    if not history:
        raise ModelError(f"{root / CURRENT_FILE}: no earlier current model to roll back to")
    previous = history.pop()
    data = {"version": previous["version"], "set_at": now(),
            "history": history, "note": f"rolled back from {pointer['version']}"}
    write_json_atomic(root / CURRENT_FILE, data)
    return pointer["version"], previous["version"]


def list_versions(root: Path | None = None) -> list[dict]:
    root = _root(root)
    current = _pointer(root).get("version")
    out = []
    for folder in sorted(p for p in root.iterdir() if (p / MANIFEST_FILE).is_file()):
        m = read_manifest(folder)
        out.append({"version": m["version"], "created_at": m.get("created_at"), "current": m["version"] == current,
                    "dev_f1": m.get("dev_metrics", {}).get("f1"), "parent": m.get("lineage", {}).get("parent"),
                    "promotion": m.get("lineage", {}).get("decision")})
    return out


def resolve(model: str | Path | None, root: Path | None = None) -> Path:
    """A model folder from a path, a version name under the models folder, or the current version."""
    root = _root(root)
    if model is None:
        version = current_version(root)
        if version is None:
            raise ModelError(f"{root}: no current model; train one (incident-classifier train) or use --rules-only")
        return root / version
    path = Path(model)
    if path.is_dir():
        return path
    if (root / str(model)).is_dir():
        return root / str(model)
    raise ModelError(f"{model}: no such model folder or version under {root}")


def load_model(folder: Path, *, rules_version: str | None = None):
    """The verified estimator and its manifest. Refuses a file whose hash, libraries or rules do not match."""
    import joblib

    path, manifest = verify_model(folder, rules_version=rules_version)
    return joblib.load(path), manifest


def verify_model(folder: Path, *, rules_version: str | None = None) -> tuple[Path, dict]:
    """The model file and manifest of a version, checked without unpickling it; raises ModelError if unusable."""
    manifest = read_manifest(folder)
    path = folder / manifest.get("file", MODEL_FILE)
    if not path.is_file():
        raise ModelError(f"{path}: model file missing")
    actual = sha256_file(path)
    if actual != manifest.get("sha256"):
        raise ModelError(
            f"{path}: SHA-256 {actual[:12]}… does not match the manifest's {str(manifest.get('sha256'))[:12]}…; "
            "the file was changed after training and will not be loaded"
        )
    installed = library_versions()
    for name in PINNED_LIBRARIES:
        trained = manifest.get("libraries", {}).get(name)
        if trained is None or _minor(trained) != _minor(installed[name]):
            raise ModelError(
                f"{folder}: trained with {name} {trained}, but {installed[name]} is installed; "
                f"install {name}=={trained} or retrain the model"
            )
    if rules_version is not None and manifest.get("rules", {}).get("version") != rules_version:
        raise ModelError(
            f"{folder}: trained with rules {manifest.get('rules', {}).get('version')}, but the rules in use are "
            f"{rules_version}; retrain the model for these rules or scan with --rules-only"
        )
    return path, manifest
