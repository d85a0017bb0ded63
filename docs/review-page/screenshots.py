"""Screenshots of the review web page, for this folder: the queue and one flag, from the bundled sample logs.

    python docs/review-page/screenshots.py

Scans corpora/sample with the current model into a flag store in a temporary folder, adds an account,
serves the page on a free loopback port, logs in with Playwright driving Debian's chromium, and writes
queue.png and flag.png beside this script. The sample logs are written for this project (no real person).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from web_server import live_server  # noqa: E402

PASSWORD = "correct horse battery"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def cli(*args, cwd: Path, stdin: str | None = None) -> None:
    subprocess.run([sys.executable, "-c", "from classifier.cli import main; main()", *map(str, args)], cwd=cwd,
                   input=stdin, text=True, check=True, capture_output=True)


def main() -> None:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("needs Debian's chromium: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="ic-screens-") as tmp:
        work = Path(tmp)
        sample = ROOT / "corpora" / "sample"
        cli("scan", sample / "incidents.csv", "--crimes", sample / "crimes.csv", "-o", "flags.jsonl",
            "--db", "flags.sqlite", "--workers", "1", "-q", cwd=work)
        cli("users", "add", "PS1234", "--role", "reviewer", "--password-stdin", "--db", "flags.sqlite", cwd=work,
            stdin=PASSWORD + "\n")
        with live_server(work / "flags.sqlite", second_review_share=0.1) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(base + "/")
            page.fill("input[name=name]", "PS1234")
            page.fill("input[name=password]", PASSWORD)
            page.press("input[name=password]", "Enter")
            page.wait_for_url(base + "/")
            page.screenshot(path=HERE / "queue.png", full_page=True)
            page.keyboard.press("j")
            page.wait_for_url("**/flag?**")
            page.screenshot(path=HERE / "flag.png", full_page=True)
            browser.close()
    print(f"wrote {HERE / 'queue.png'} and {HERE / 'flag.png'}")


if __name__ == "__main__":
    main()
