"""The review web page in a real browser: Playwright driving Debian's Chromium (no browser download).

Skipped, with the reason, where /usr/bin/chromium is missing; `.ci/run` installs it, so CI runs these.
"""

from __future__ import annotations

import shutil
import sqlite3

import pytest

from classifier.review.store import FlagStore

from helpers import WEB_PASSWORD, web_store
from web_server import live_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                                         "(apt-get install -y chromium; .ci/run does it)")
# As root in a container Chromium needs --no-sandbox; the rest keep it off a network this machine does not have.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _log_in(page, base: str, name: str) -> None:
    page.goto(base + "/")
    assert page.url.startswith(base + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", WEB_PASSWORD)
    page.press("input[name=password]", "Enter")
    page.wait_for_url(base + "/")


def _shown_id(page) -> str:
    return page.inner_text("[data-testid=incident-id]")


def test_a_reviewer_triages_ten_flags_by_keyboard_and_undoes_one(browser, tmp_path):
    db = web_store(tmp_path / "flags.sqlite", 14)
    with live_server(db) as base:
        page = browser.new_page()
        _log_in(page, base, "bob")
        page.keyboard.press("j")  # the queue's first flag
        page.wait_for_url("**/flag?**")
        keys = ["c", "n", "r", "n", "c", "n", "n", "r", "c", "n"]
        expected = []
        for key in keys:
            shown = _shown_id(page)
            label = page.input_value("#label")
            with page.expect_navigation():
                page.keyboard.press(key)
            outcome = {"c": "crime", "n": "no_crime", "r": "already_recorded"}[key]
            expected.append((shown, outcome, label if outcome == "crime" else None))
            assert _shown_id(page) != shown  # the next flag opened
        # z undoes the last one and shows it again; l moves to the label, and a new decision goes in.
        with page.expect_navigation():
            page.keyboard.press("z")
        assert _shown_id(page) == expected[-1][0] and "Undid your decision" in page.inner_text(".flash")
        undone = expected.pop()
        page.keyboard.press("l")
        assert page.evaluate("document.activeElement.id") == "label"
        page.keyboard.press("Escape")
        assert page.evaluate("document.activeElement.id") != "label"

        con = sqlite3.connect(db)
        rows = con.execute("SELECT incident_id, outcome, label, reviewer, retracted_at IS NOT NULL FROM reviews "
                           "ORDER BY id").fetchall()
        con.close()
        assert [r[:3] for r in rows if not r[4]] == expected
        assert {r[3] for r in rows} == {"bob"} and [r[:2] for r in rows if r[4]] == [undone[:2]]
        with FlagStore(db, mode="read") as store:
            assert store.latest_flag(undone[0])["status"] == "open"
            assert store.status_counts()["decided"] == 9
        page.close()


def test_logged_out_users_and_reviewers_without_the_role_are_refused(browser, tmp_path):
    db = web_store(tmp_path / "flags.sqlite", 3)
    with live_server(db) as base:
        page = browser.new_page()
        page.goto(base + "/flag?id=INC-00001")
        assert page.url.startswith(base + "/login") and page.is_visible("input[name=password]")
        # A form posted from outside a session (no cookie, no token) changes nothing. (The page's own policy,
        # connect-src 'none', would not even let a script on it send this: the browser's request API does.)
        form = {"id": "INC-00001", "outcome": "no_crime"}
        assert page.request.post(base + "/decide", form=form, max_redirects=0).status == 401
        _log_in(page, base, "bob")
        response = page.goto(base + "/export.csv")
        assert response.status == 403 and "admin role" in page.inner_text("main")
        # Logged in (the request shares the page's cookies), but the token is still needed.
        assert page.request.post(base + "/decide", form=form, max_redirects=0).status == 403
        page.close()
    con = sqlite3.connect(db)
    assert con.execute("SELECT COUNT(*) FROM reviews").fetchone() == (0,)
    con.close()


def test_payloads_from_the_public_do_not_run(browser, tmp_path):
    db = web_store(tmp_path / "hostile.sqlite", 8, hostile=True)
    with live_server(db) as base:
        page = browser.new_page()
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        _log_in(page, base, "bob")
        links = page.eval_on_selector_all("[data-testid=flag-link]", "els => els.map(e => e.href)")
        assert len(links) == 8
        for link in links:
            page.goto(link)
            assert page.evaluate("window.__pwned") is None
            # The payload is on the page as text, for the reviewer to read.
            assert "window.__pwned=1" in page.inner_text("pre")
        page.fill("#note", '<img src=x onerror="window.__pwned=1">')
        with page.expect_navigation():
            page.click("button[value=no_crime]")
        page.goto(links[-1])
        assert page.evaluate("window.__pwned") is None and dialogs == []
        page.close()
