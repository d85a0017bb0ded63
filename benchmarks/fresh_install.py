"""Does the tool work when installed, from any folder, without writing into its own package?

    python benchmarks/fresh_install.py [--offline] [--keep] [--corpus DIR]

1. makes a virtual environment in a temporary folder, with this environment's packages visible
   (`--system-site-packages`), and `pip install --no-deps --no-build-isolation` a copy of this checkout into it,
   so nothing is downloaded: the dependencies are the ones installed here. Building needs setuptools>=77
   (pyproject's build-system); if the venv has an older one it is installed into the venv first, the only
   download, unless `--offline`, which stops instead;
2. from a working folder outside the checkout, with no `INCIDENT_CLASSIFIER_HOME` and the user data folder
   pointed into the temporary folder (`XDG_DATA_HOME`, so the machine's own data folder is left alone), runs
   the installed `incident-classifier`: scan of the README's sample logs into a flag store, review decide,
   report, evaluate without and with `--corpus`, review export, retrain, models promote (refused first if
   the gate refused the candidate, then `--force`), rollback, models list and history, and a scan after the
   rollback;
3. lists every file under the venv's `site-packages/classifier` before and after (path, size, modification
   time) and prints whether anything was written there: "nothing written into site-packages", or each change
   and exit status 1.

Takes several minutes: `evaluate` and `retrain` read the whole corpus, and retrain trains a model on it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What a wheel is built from; the corpus, tests and the rest stay behind, as they would in an sdist install.
SOURCE = ("pyproject.toml", "README.md", "LICENSE", "classifier", "rules", "models")


def sh(command: list, *, env: dict | None = None, cwd: Path | None = None,
       check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([str(c) for c in command], env=env, cwd=cwd, capture_output=True, text=True)
    if check and result.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    """`find folder`: every file and folder under it, with its size and modification time."""
    out = {}
    for path in sorted(folder.rglob("*")):
        stat = path.lstat()
        out[str(path.relative_to(folder)) + ("/" if path.is_dir() else "")] = (stat.st_size, stat.st_mtime_ns)
    return out


def install(work: Path, offline: bool) -> tuple[Path, Path]:
    """The venv's python and its site-packages/classifier."""
    source = work / "src"
    source.mkdir()
    for name in SOURCE:
        item = ROOT / name
        if item.is_dir():
            shutil.copytree(item, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(item, source / name)
    venv = work / "venv"
    sh([sys.executable, "-m", "venv", "--system-site-packages", venv])
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    have = sh([python, "-c", "import setuptools; print(setuptools.__version__)"], env=env).stdout.strip()
    if int(have.split(".")[0]) < 77:
        if offline:
            sys.exit(f"the venv's setuptools is {have}; building needs setuptools>=77 (pyproject's build-system), "
                     "and --offline forbids fetching it")
        print(f"build tooling: the venv's setuptools {have} is older than pyproject's build-system asks "
              "(>=77); installing it into the venv (the only download)")
        sh([python, "-m", "pip", "install", "-q", "setuptools>=77"], env=env)
    result = sh([python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--ignore-installed",
                 "--no-cache-dir", source], env=env)
    print(result.stdout.strip().splitlines()[-1])
    purelib = Path(sh([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], env=env).stdout.strip())
    return python, purelib / "classifier"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--offline", action="store_true", help="Never download (not even build tooling).")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary folder and print where it is.")
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpora" / "incidents",
                        help="Labelled corpus for evaluate and retrain [default: this checkout's].")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ic-fresh-install-"))
    started = time.monotonic()
    try:
        python, package = install(work, args.offline)
        scripts = python.parent
        tool = scripts / ("incident-classifier.exe" if os.name == "nt" else "incident-classifier")
        data = work / "user-data"
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "INCIDENT_CLASSIFIER_HOME", "INCIDENT_CLASSIFIER_DB")}
        env.update({"XDG_DATA_HOME": str(data), "PATH": f"{scripts}{os.pathsep}{env.get('PATH', '')}"})
        cwd = work / "elsewhere"
        cwd.mkdir()
        where = sh([python, "-c", "import classifier; print(classifier.__file__)"], env=env, cwd=cwd).stdout.strip()
        print(f"installed package: {Path(where).parent}")
        if Path(where).parent != package:
            sys.exit(f"the venv imports classifier from {where}, not from its own site-packages {package}")
        shipped = sorted(p.name for p in (package / "models").iterdir())
        print(f"shipped in site-packages/classifier/models: {', '.join(shipped)}")
        before = listing(package)
        print(f"find {package}: {len(before)} entries before")

        def run(*command, expect: int = 0) -> str:
            result = sh([tool, *command], env=env, cwd=cwd, check=False)
            shown = " ".join(str(c).replace(str(ROOT), "<checkout>").replace(str(work), "<tmp>") for c in command)
            # Progress and errors (stderr) come before the results (stdout) they lead to.
            output = (result.stderr.rstrip() + "\n" + result.stdout).strip()
            print(f"\n$ incident-classifier {shown}   [exit {result.returncode}]")
            for line in output.splitlines()[-12:]:
                print("  " + line.replace(str(work), "<tmp>").replace(str(ROOT), "<checkout>"))
            if result.returncode != expect:
                sys.exit(f"expected exit {expect}")
            return result.stdout.strip()

        sample = ROOT / "corpora" / "sample"
        db = cwd / "flags.sqlite"
        run("scan", sample / "incidents.csv", "--crimes", sample / "crimes.csv", "-o", "flags.jsonl", "--db", db,
            "--workers", 1, "-q")
        flags = [json.loads(line) for line in (cwd / "flags.jsonl").read_text().splitlines() if line.strip()]
        shipped_model = flags[0]["model"]
        for flag in flags[:6]:
            outcome = ["--outcome", "crime", "--label", flag["label"]] if flag["band"] == "likely" else \
                ["--outcome", "no_crime"]
            run("review", "decide", flag["incident_id"], *outcome, "--reviewer", "PS1234", "--db", db)
        run("report", "-o", "flags.html", "--db", db)
        run("evaluate", args.corpus, "--held-out", "none", expect=1)
        run("evaluate", args.corpus, "--corpus", args.corpus, "--held-out", "none")
        run("review", "export", "-o", "reviews.jsonl", "--db", db)
        out = run("retrain", "--reviews", "reviews.jsonl", "--db", db, "--corpus", args.corpus, "--held-out", "none",
                  "--reviewer", "DS42")
        last = out.splitlines()[-1]
        candidate = last.split()[1] if last.startswith("candidate ") else None
        if candidate is None:
            sys.exit("retrain trained no candidate")
        if last.endswith(": refused"):
            run("models", "promote", candidate, "--reviewer", "PS1234", expect=1)
            run("models", "promote", candidate, "--force", "--reviewer", "PS1234")
        else:
            run("models", "rollback", "--reviewer", "PS1234")
            run("models", "promote", candidate, "--reviewer", "PS1234")
        run("models", "rollback", "--reviewer", "PS1234")
        run("models", "list")
        run("models", "history")
        run("scan", sample / "incidents.csv", "--crimes", sample / "crimes.csv", "-o", "after.jsonl", "--workers", 1,
            "-q")
        model_after = json.loads((cwd / "after.jsonl").read_text().splitlines()[0])["model"]
        print(f"\nscan after rollback uses {model_after} (shipped: {shipped_model})")
        home = data / "incident-classifier" / "models"
        print(f"models home (user data folder): {sorted(p.name for p in home.iterdir())}")

        after = listing(package)
        print(f"\nfind {package}: {len(after)} entries after ({time.monotonic() - started:.0f} s in all)")
        changed = sorted(set(before) ^ set(after) | {p for p in before if p in after and before[p] != after[p]})
        if changed:
            print("written into site-packages:")
            for path in changed:
                print(f"  {path}: {before.get(path)} -> {after.get(path)}")
            sys.exit(1)
        if model_after != shipped_model:
            sys.exit(f"after the rollback the scan used {model_after}, not the shipped {shipped_model}")
        print("nothing written into site-packages")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
