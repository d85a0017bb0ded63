"""The review web page over HTTP (Starlette's test client): login, CSRF, roles, decisions, undo, second review,
escaping. The browser tests (tests/test_web_browser.py) drive the same pages in Chromium."""

from __future__ import annotations

import json
import re
import sqlite3
import warnings

import pytest
from click.testing import CliRunner

from classifier.cli import cli
from classifier.review.store import FlagStore

from helpers import PAYLOADS, WEB_PASSWORD, csrf_of, web_login, web_store

warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
from starlette.testclient import TestClient  # noqa: E402

from classifier.web.app import create_app  # noqa: E402


def _client(db, **settings) -> TestClient:
    return TestClient(create_app(db, **settings), follow_redirects=True)


def _decisions(db) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT incident_id, outcome, label, reviewer, source, retracted_at IS NOT NULL "
                           "FROM reviews ORDER BY id").fetchall()
    finally:
        con.close()


def _first_flag(client) -> tuple[str, str]:
    """(incident id, CSRF token) of the flag the queue's first link opens."""
    queue = client.get("/")
    link = re.search(r'href="(/flag\?[^"]+)" data-testid="flag-link"', queue.text).group(1).replace("&amp;", "&")
    page = client.get(link)
    return re.search(r'name="id" value="([^"]+)"', page.text).group(1), csrf_of(page.text)


@pytest.fixture
def db(tmp_path):
    return web_store(tmp_path / "flags.sqlite")


def test_every_page_needs_a_login_and_every_form_its_token(db):
    client = _client(db)
    for path in ("/", "/flag?id=INC-00001", "/stats", "/audit", "/export.csv"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login?next=")
    # A POST without a session is refused, whatever it carries.
    refused = client.post("/decide", data={"id": "INC-00001", "outcome": "no_crime", "csrf": "x"})
    assert refused.status_code == 401
    # A login without the login form's token is refused too (no logging a reviewer into an attacker's account).
    assert client.post("/login", data={"name": "ann", "password": WEB_PASSWORD}).status_code == 403
    assert web_login(client, "bob").status_code == 200
    incident_id, token = _first_flag(client)
    for bad in ({}, {"csrf": ""}, {"csrf": token[:-1] + ("A" if token[-1] != "A" else "B")}):
        response = client.post("/decide", data={"id": incident_id, "outcome": "no_crime", **bad})
        assert response.status_code == 403 and "security token" in response.text
    # Another session's token is not this session's.
    other = _client(db)
    web_login(other, "cat")
    _, other_token = _first_flag(other)
    assert client.post("/decide", data={"id": incident_id, "outcome": "no_crime", "csrf": other_token}).status_code == 403
    assert client.post("/undo", data={"csrf": "nope"}).status_code == 403
    assert _decisions(db) == []


def test_a_decision_is_the_logged_in_users_and_the_next_flag_opens(db):
    client = _client(db)
    web_login(client, "bob")
    incident_id, token = _first_flag(client)
    # A typed reviewer name is ignored: the decision is the session's user's.
    page = client.post("/decide", data={"id": incident_id, "outcome": "crime", "label": "rape", "note": "disclosed",
                                        "reviewer": "someone-else", "csrf": token})
    assert page.status_code == 200 and f"Decided {incident_id}: crime (rape)." in page.text
    following = re.search(r'data-testid="incident-id">([^<]+)<', page.text).group(1)
    assert following != incident_id
    assert _decisions(db) == [(incident_id, "crime", "rape", "bob", "web", 0)]
    # The same rules as `review decide`: a label goes only with a crime, and a crime needs one.
    wrong = client.post("/decide", data={"id": following, "outcome": "crime", "label": "", "csrf": token})
    assert wrong.status_code == 400 and "outcome crime needs --label" in wrong.text
    with FlagStore(db, mode="read") as store:
        assert store.latest_flag(incident_id)["status"] == "decided"
        assert incident_id not in store.queue_ids()


def test_a_decision_on_a_flag_another_reviewer_decided_while_it_was_open_is_refused(db):
    bob, cat = _client(db), _client(db)
    web_login(bob, "bob")
    web_login(cat, "cat")
    incident_id, bob_token = _first_flag(bob)
    opened = cat.get(f"/flag?id={incident_id}").text  # both have it open
    assert re.search(r'name="seen" value="0"', opened)
    bob.post("/decide", data={"id": incident_id, "outcome": "no_crime", "seen": "0", "csrf": bob_token})
    late = cat.post("/decide", data={"id": incident_id, "outcome": "crime", "label": "rape", "seen": "0",
                                     "csrf": csrf_of(opened)})
    assert late.status_code == 409 and f"bob decided {incident_id} (no_crime) while you had it open" in late.text
    assert [d[3] for d in _decisions(db)] == ["bob"]
    # Shown bob's decision, cat may still decide it: a second opinion given knowingly.
    shown = cat.get(f"/flag?id={incident_id}").text
    seen = re.search(r'name="seen" value="(\d+)"', shown).group(1)
    assert seen != "0"
    assert cat.post("/decide", data={"id": incident_id, "outcome": "crime", "label": "rape", "seen": seen,
                                     "csrf": csrf_of(shown)}).status_code == 200
    assert [d[3] for d in _decisions(db)] == ["bob", "cat"]


def test_undo_retracts_the_last_decision_and_reopens_the_flag(db):
    client = _client(db)
    web_login(client, "bob")
    first, token = _first_flag(client)
    client.post("/decide", data={"id": first, "outcome": "no_crime", "label": "rape", "csrf": token})
    undone = client.post("/undo", data={"csrf": token})
    assert f"Undid your decision on {first} (no_crime)." in undone.text
    assert re.search(r'data-testid="incident-id">([^<]+)<', undone.text).group(1) == first
    # Kept, marked as undone; it no longer counts, and the flag is back in the queue.
    assert _decisions(db) == [(first, "no_crime", None, "bob", "web", 1)]
    with FlagStore(db, mode="read") as store:
        assert store.latest_flag(first)["status"] == "open" and store.reviews(first) == []
        assert store.queue_ids()[0] == first
    # The same decision again, in the same second, is a new decision, not the undone one.
    client.post("/decide", data={"id": first, "outcome": "no_crime", "csrf": token})
    assert [d[-1] for d in _decisions(db)] == [1, 0]
    # Another reviewer's undo does not touch bob's decision.
    other = _client(db)
    web_login(other, "cat")
    _, other_token = _first_flag(other)
    assert "Nothing of yours to undo." in other.post("/undo", data={"csrf": other_token}).text
    assert [d[-1] for d in _decisions(db)] == [1, 0]


def test_only_admins_export_and_draw_samples(db, tmp_path):
    reviewer = _client(db)
    web_login(reviewer, "bob")
    token = csrf_of(reviewer.get("/").text)
    assert reviewer.get("/export.csv").status_code == 403
    incidents = tmp_path / "day.csv"
    incidents.write_text("incident_id,text\nX1,lost wallet\nX2,noise complaint\n")
    drawn = reviewer.post("/audit/draw", data={"incidents": str(incidents), "size": "1", "seed": "1", "csrf": token})
    assert drawn.status_code == 403 and "admin role" in drawn.text
    assert "Draw a sample" not in reviewer.get("/audit").text and "Export decisions" not in reviewer.get("/").text

    from classifier.api import load_scorer

    admin = TestClient(create_app(db, scorer_factory=lambda: load_scorer(rules_only=True)))
    web_login(admin, "ann")
    token = csrf_of(admin.get("/audit").text)
    page = admin.post("/audit/draw", data={"incidents": str(incidents), "size": "1", "seed": "7", "csrf": token})
    assert "Audit sample 1: 1 of 2 unflagged incidents drawn." in page.text
    link = re.search(r'href="(/flag\?[^"]+audit=1[^"]*)"', page.text).group(1).replace("&amp;", "&")
    item = admin.get(link)
    incident_id = re.search(r'name="id" value="([^"]+)"', item.text).group(1)
    done = admin.post("/decide", data={"id": incident_id, "outcome": "no_crime", "audit": "1",
                                       "csrf": csrf_of(item.text)})
    assert "Nothing left to decide here." in done.text and "Offences among unflagged: 0.000" in done.text
    export = admin.get("/export.csv")
    assert export.status_code == 200 and export.text.splitlines()[0] == (
        "incident_id,outcome,label,reviewer,reviewed_at,note,predicted_label,confidence")
    assert export.text.splitlines()[1].startswith(f"{incident_id},no_crime,,ann,")
    with FlagStore(db, mode="read") as store:
        assert [(e["action"], e["by"], e["sample"]) for e in store.audit_log()] == [("audit sample", "ann", 1)]


def test_a_share_of_decisions_goes_to_a_second_reviewer_and_agreement_is_shown(db):
    bob, cat = _client(db, second_review_share=1.0), _client(db, second_review_share=1.0)
    web_login(bob, "bob")
    web_login(cat, "cat")
    incident_id, token = _first_flag(bob)
    bob.post("/decide", data={"id": incident_id, "outcome": "crime", "label": "rape", "csrf": token})
    with FlagStore(db, mode="read") as store:
        assert incident_id not in store.queue_ids(reviewer="bob", second_share=1.0)
        assert incident_id in store.queue_ids(reviewer="cat", second_share=1.0)
    assert "second review" in cat.get("/").text
    cat_token = csrf_of(cat.get("/").text)
    cat.post("/decide", data={"id": incident_id, "outcome": "crime", "label": "rape", "csrf": cat_token})
    with FlagStore(db, mode="read") as store:
        # Two reviewers have decided it: it leaves every queue.
        assert all(incident_id not in store.queue_ids(reviewer=r, second_share=1.0) for r in ("bob", "cat", "ann"))
    stats = bob.get("/stats").text
    assert "1 incidents decided by two reviewers: 1 agree, kappa 1.000" in stats
    # With no second review, a decided flag is in no one's queue.
    with FlagStore(db, mode="read") as store:
        decided = store.latest_flag(incident_id)["incident_id"]
        assert decided not in store.queue_ids(reviewer="ann", second_share=0.0)


def test_text_ids_codes_and_notes_from_the_public_are_escaped(tmp_path):
    db = web_store(tmp_path / "hostile.sqlite", 8, hostile=True)
    client = _client(db)
    web_login(client, "bob")
    queue = client.get("/").text
    links = [m.replace("&amp;", "&") for m in re.findall(r'href="(/flag\?[^"]+)" data-testid', queue)]
    assert len(links) == 8
    page = client.get(links[0]).text
    client.post("/decide", data={"id": re.search(r'name="id" value="([^"]+)"', page).group(1), "outcome": "no_crime",
                                 "note": PAYLOADS[1], "csrf": csrf_of(page)})
    pages = [queue] + [client.get(link).text for link in links] + [client.get("/stats").text]
    for html in pages:
        assert "<script>window" not in html and "<img src=x" not in html and "<svg onload" not in html
        assert not re.search(r"""(href|src|action)=["']?\s*javascript:""", html, re.I)
    assert any("&lt;script&gt;window.__pwned=1&lt;/script&gt;" in html for html in pages)
    assert any("&#34;&gt;&lt;img src=x onerror=" in html or "&quot;&gt;&lt;img src=x onerror=" in html for html in pages)
    # And if anything got through, the page's policy runs no inline script.
    assert "script-src 'self'" in client.get("/").headers["content-security-policy"]


def test_failed_logins_are_slowed_and_a_login_cannot_send_a_reviewer_elsewhere(db):
    client = _client(db)
    for _ in range(5):
        assert web_login(client, "bob", "wrong password!").status_code == 401
    # The right password now waits out the window too.
    assert web_login(client, "bob").status_code == 429
    other = _client(db)
    page = other.get("/login?next=//evil.example/x")
    assert "evil.example" not in page.text
    landed = other.post("/login", data={"name": "cat", "password": WEB_PASSWORD, "csrf": csrf_of(page.text),
                                        "next": "https://evil.example/"}, follow_redirects=False)
    assert landed.status_code == 303 and landed.headers["location"] == "/"
    cookie = landed.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()


def test_the_queue_filters_and_the_teach_order(db):
    client = _client(db)
    web_login(client, "bob")
    assert "12 flags match these filters" in client.get("/").text
    assert "2 flags match these filters" in client.get("/?label=rape").text  # n = 2 and 7
    assert "1 flag matches these filters" in client.get("/?q=number 11;").text
    assert "0 flags match these filters" in client.get("/?q=50%25").text
    with FlagStore(db, mode="read") as store:
        teach = store.queue_ids(order="teach")
        offence = {r["incident_id"]: r["confidence"] for r in store.open_flags()}
    # Nearest 0.5 first: the least sure decisions come first.
    assert [abs(offence[i] - 0.5) for i in teach] == sorted(abs(offence[i] - 0.5) for i in teach)
    listed = CliRunner().invoke(cli, ["review", "queue", "--db", str(db), "--order", "teach", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [r["incident_id"] for r in json.loads(listed.stdout)] == teach


def test_users_add_keeps_a_hash_and_serve_needs_an_account(tmp_path):
    db = tmp_path / "flags.sqlite"
    FlagStore(db).close()
    runner = CliRunner()
    served = runner.invoke(cli, ["serve", "--db", str(db)])
    assert served.exit_code == 1 and "no reviewer accounts yet" in served.output
    short = runner.invoke(cli, ["users", "add", "dan", "--role", "reviewer", "--password-stdin", "--db", str(db)],
                          input="short\n")
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    added = runner.invoke(cli, ["users", "add", "dan", "--role", "admin", "--password-stdin", "--db", str(db)],
                          input=WEB_PASSWORD + "\n")
    assert added.exit_code == 0 and added.output == "added dan (admin)\n"
    stored = sqlite3.connect(db).execute("SELECT password_hash FROM users").fetchone()[0]
    assert WEB_PASSWORD not in stored and stored.startswith("scrypt$131072$8$1$")
    listing = runner.invoke(cli, ["users", "list", "--db", str(db), "--csv"]).output
    assert listing.splitlines()[0] == "name,role,created_at,updated_at" and "scrypt" not in listing
    missing = runner.invoke(cli, ["serve", "--db", str(tmp_path / "flgas.sqlite")])
    assert missing.exit_code == 1 and "no flag store here" in missing.output


def test_a_new_password_or_role_ends_the_sessions_opened_before(db):
    from classifier.web.accounts import hash_password

    client = _client(db)
    web_login(client, "ann")
    assert client.get("/export.csv").status_code == 200
    with FlagStore(db, mode="write") as store:
        store.add_user("ann", "reviewer", hash_password("another long password", n=2 ** 12))
    page = client.get("/export.csv")
    assert page.url.path == "/login"
    assert web_login(client, "ann").status_code == 401
    web_login(client, "ann", "another long password")
    assert client.get("/export.csv").status_code == 403
