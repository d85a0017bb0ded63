"""Model versions on disk: `<home>/<version>/model.joblib` beside `manifest.json`, `<home>/current.json`, and
`<home>/audit.jsonl`, the append-only record of who changed the current model and how.

The home is outside the package (`resources.models_home`); the model shipped in the package is read-only and
current until a version is made current in the home. Version names are looked up in the home, then among
the shipped versions, so a home can roll back to the shipped model.

Loading a joblib file runs code, so the file's SHA-256 is checked against its manifest first, and the
libraries it was trained with against the ones installed. The manifest also pins the rule set the
model's features were computed with: a model is refused with rules other than its own.
"""

from __future__ import annotations

import getpass
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
from classifier.resources import HOME_ENV, inside_package, models_home, shipped_models_dir

MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
CURRENT_FILE = "current.json"
AUDIT_FILE = "audit.jsonl"
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
    """The models home asked for (--models), else the default one; never the shipped folder unless asked."""
    return models_home(root)


def _writable(root: Path) -> Path:
    """The models home, refused if it is inside the package: an installed package is no place for a force's
    models (a reinstall loses them, site-packages may be read-only) and the shipped model must stay as shipped."""
    if inside_package(root):
        raise ModelError(f"{root}: part of the package, where the shipped model is kept read-only; give a "
                         f"models home outside it with --models DIR or ${HOME_ENV}")
    return root


def writable_home(root: Path | None = None) -> Path:
    """The models home asked for or the default, refused (ModelError) if it is inside the package."""
    return _writable(_root(root))


def save_model(estimator, manifest: dict, *, root: Path | None = None) -> ModelVersion:
    """Write the estimator and its manifest as a new version folder; the version names the file's hash."""
    import joblib

    root = _writable(_root(root))
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


def _read_pointer(folder: Path) -> dict:
    path = folder / CURRENT_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: line {exc.lineno}: malformed JSON: {exc.msg}") from None


def _pointer(root: Path) -> dict:
    """The home's current.json, or the shipped one's version while nothing was made current in the home.

    The shipped pointer lends no history: what rollback returns to is what was made current in this home.
    """
    pointer = _read_pointer(root)
    if pointer.get("version"):
        return pointer
    shipped = _read_pointer(shipped_models_dir())
    if not shipped.get("version"):
        return {}
    return {"version": shipped["version"], "set_at": shipped.get("set_at"), "history": [], "shipped": True}


def _find(version: str, root: Path) -> Path | None:
    """A version's folder: the home's first, then the shipped one's."""
    for folder in (root, shipped_models_dir()):
        if (folder / version / MANIFEST_FILE).is_file():
            return folder / version
    return None


def current_version(root: Path | None = None) -> str | None:
    return _pointer(_root(root)).get("version")


def operator(name: str | None = None) -> str:
    """Who did it, for the audit log: the name given, else the account running the command."""
    if name:
        return name
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no passwd entry, as in some containers
        return "unknown"


def record(root: Path | None, event: dict, *, by: str | None = None) -> dict:
    """Append one event to the home's audit log, which is only ever appended to; returns the entry."""
    root = _writable(_root(root))
    root.mkdir(parents=True, exist_ok=True)
    entry = {"at": now(), "by": operator(by), **event}
    data = (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8")
    # O_APPEND: two commands recording at once each add a whole line, neither overwrites the other.
    fd = os.open(root / AUDIT_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    finally:
        os.close(fd)
    return entry


def audit_log(root: Path | None = None) -> list[dict]:
    """The home's audit log, oldest first (empty when nothing was recorded)."""
    path = _root(root) / AUDIT_FILE
    if not path.is_file():
        return []
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ModelError(f"{path}: line {number}: malformed JSON: {exc.msg}") from None
    return entries


def set_current(version: str, root: Path | None = None, *, note: str | None = None, action: str = "set current",
                by: str | None = None, details: dict | None = None) -> dict:
    """Make `version` current in the home; the one it replaces goes on the history that `rollback` returns to.

    Every change of the current model is recorded in the audit log (action, who, `details`), before the
    pointer moves: a crash between the two leaves a recorded change that did not happen, never the reverse.
    Returns the audit entry.
    """
    root = _writable(_root(root))
    if _find(version, root) is None:
        raise ModelError(f"{root / version}: no such model version (nor among the shipped models)")
    pointer = _pointer(root)
    history = list(pointer.get("history", []))
    if pointer.get("version") and pointer["version"] != version:
        history.append({"version": pointer["version"], "set_at": pointer.get("set_at")})
    entry = record(root, {"action": action, "version": version, "from": pointer.get("version"), **(details or {})},
                   by=by)
    data = {"version": version, "set_at": now(), "history": history}
    if note:
        data["note"] = note
    write_json_atomic(root / CURRENT_FILE, data)
    return entry


def gate_refusal(manifest: dict) -> list[str]:
    """Why the retraining gate refused this version (empty if it passed or never faced the gate)."""
    lineage = manifest.get("lineage") or {}
    failures = list(lineage.get("gate_failures") or [])
    if not failures and lineage.get("decision") == "refused":
        failures = ["refused by the retraining gate"]
    return failures


def promote(version: str, root: Path | None = None, *, force: bool = False, by: str | None = None) -> dict:
    """Make `version` current by hand. A version the retraining gate refused needs `force`, and is recorded
    as forced: a refusal is not undone by the next person who runs promote. Returns the audit entry."""
    root = _writable(_root(root))
    folder = _find(version, root)
    if folder is None:
        raise ModelError(f"{root / version}: no such model version (nor among the shipped models)")
    failures = gate_refusal(read_manifest(folder))
    if failures and not force:
        raise ModelError(f"{version}: the retraining gate refused it ({'; '.join(failures)}); "
                         "promote it with --force to make it current anyway (recorded in the audit log)")
    details = {"forced": bool(failures)}
    if failures:
        details["gate_failures"] = failures
    return set_current(version, root, note="promoted by hand" + (" over the gate's refusal" if failures else ""),
                       action="promote", by=by, details=details)


def rollback(root: Path | None = None, *, by: str | None = None) -> dict:
    """Return to the version that was current before this one. Returns the audit entry (`from`, `version`)."""
    root = _writable(_root(root))
    pointer = _read_pointer(root)
    history = list(pointer.get("history", []))
    if not history:
        raise ModelError(f"{root / CURRENT_FILE}: no earlier current model to roll back to")
    previous = history.pop()
    if _find(previous["version"], root) is None:
        raise ModelError(f"{root / CURRENT_FILE}: the earlier model {previous['version']} is no longer in {root} "
                         "nor among the shipped models; promote a version that `models list` shows")
    entry = record(root, {"action": "rollback", "version": previous["version"], "from": pointer["version"]}, by=by)
    data = {"version": previous["version"], "set_at": now(),
            "history": history, "note": f"rolled back from {pointer['version']}"}
    write_json_atomic(root / CURRENT_FILE, data)
    return entry


def list_versions(root: Path | None = None) -> list[dict]:
    """The home's versions, then the shipped ones (`shipped`: True) the home does not also hold."""
    root = _root(root)
    current = _pointer(root).get("version")
    out, seen = [], set()
    for folder_root, shipped in ((root, False), (shipped_models_dir(), True)):
        if not folder_root.is_dir():
            continue
        for folder in sorted(p for p in folder_root.iterdir() if (p / MANIFEST_FILE).is_file()):
            m = read_manifest(folder)
            if m["version"] in seen:
                continue
            seen.add(m["version"])
            lineage = m.get("lineage") or {}
            out.append({"version": m["version"], "created_at": m.get("created_at"),
                        "current": m["version"] == current, "shipped": shipped or inside_package(folder),
                        "dev_f1": m.get("dev_metrics", {}).get("f1"), "parent": lineage.get("parent"),
                        "promotion": lineage.get("decision"), "folder": str(folder)})
    return out


def resolve(model: str | Path | None, root: Path | None = None) -> Path:
    """A model folder from a path, a version name (the home's, else a shipped one), or the current version."""
    root = _root(root)
    if model is None:
        version = _pointer(root).get("version")
        if version is None:
            raise ModelError(f"{root}: no current model; train one (incident-classifier train) or use --rules-only")
        folder = _find(version, root)
        if folder is None:
            raise ModelError(f"{root / CURRENT_FILE}: the current model {version} is neither in {root} nor among "
                             "the shipped models; promote a version that `models list` shows")
        return folder
    path = Path(model)
    if path.is_dir():
        return path
    folder = _find(str(model), root)
    if folder is not None:
        return folder
    raise ModelError(f"{model}: no such model folder, nor a version in {root} or among the shipped models")


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
