"""The review web page: a Starlette app over the flag store.

Every page needs a logged-in reviewer (a signed session cookie); every form carries the session's CSRF token;
decisions go through `FlagStore.decide`, the code `review decide` uses, as the logged-in user. Text from the
store is escaped by Jinja2's autoescaping or by `flag_body`; the Content-Security-Policy allows only this
package's own script and style, so markup that got through anyway would not run.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import secrets
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from classifier.clock import now
from classifier.errors import UserError
from classifier.labels import LABELS, OFFENCE_LABELS
from classifier.review.html_report import flag_body
from classifier.review.store import ORDERS, DecidedMeanwhile, FlagStore, decision_time
from classifier.web.accounts import DUMMY_HASH, verify_password

SESSION_COOKIE = "ic_session"
SESSION_HOURS = 10  # a shift
PAGE_SIZE = 50
FILTERS = ("label", "band", "since", "until", "code", "q", "order")
# After this many failed logins for one name within the window, that name waits out the window.
LOGIN_FAILURES, LOGIN_WINDOW = 5, 15 * 60

SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    # Pages hold incident text: no copy in a shared browser's cache.
    "cache-control": "no-store",
}


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response (pure ASGI, so streaming and static files keep working)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode().lower() not in SECURITY_HEADERS]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class PageError(Exception):
    """A request that cannot be served as asked: shown as a page with its status and message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def create_app(db_path: str | Path, *, second_review_share: float = 0.0, https_only: bool = False,
               scorer_factory=None) -> Starlette:
    """The review web app over the flag store at `db_path` (which must exist: `scan --db` makes it).

    second_review_share: the share of decided flags shown again to a second reviewer, for agreement.
    https_only: mark the session cookie Secure (behind a TLS-terminating proxy, always).
    scorer_factory: builds the scorer for drawing audit samples (default: the current model); for tests.
    """
    db_path = Path(db_path)
    with FlagStore(db_path, mode="write") as store:
        secret = store.setting("session_secret", lambda: secrets.token_urlsafe(48))
    env = Environment(loader=PackageLoader("classifier.web", "templates"), autoescape=select_autoescape(default=True),
                      trim_blocks=True, lstrip_blocks=True)
    failures: dict[str, list[float]] = {}
    failures_lock = threading.Lock()

    def render(request: Request, template: str, status: int = 200, **context) -> HTMLResponse:
        user = request.session.get("user")
        body = env.get_template(template).render(request=request, user=user, role=request.session.get("role"),
                                                 csrf=_csrf_token(request), labels=LABELS,
                                                 offence_labels=OFFENCE_LABELS, flash=request.session.pop("flash", None),
                                                 url=lambda name, **kw: _url(request, name, **kw),
                                                 static=lambda path: str(request.url_for("static", path=path).path),
                                                 **context)
        return HTMLResponse(body, status_code=status)

    def page(handler, *, role: str | None = None, write: bool = False):
        """A handler that needs a logged-in user (of `role`, if given), the store open, and a CSRF check on
        POST; a user's mistake becomes a page with the message, never a traceback."""

        def endpoint(request: Request):
            if not request.session.get("user"):
                if request.method == "GET":
                    return RedirectResponse(_url(request, "login", next=_relative(request)), status_code=303)
                return render(request, "error.html", 401, message="Log in first.")
            form = None
            if request.method == "POST":
                form = _form(request)
                if not _csrf_ok(request, form):
                    return render(request, "error.html", 403,
                                  message="The form's security token is missing or out of date. Go back, reload "
                                          "the page and try again.")
            try:
                with FlagStore(db_path, mode="write" if write else "read") as store:
                    # The account as it is now, not as it was at login: a removed account, a new password or
                    # a changed role ends the session's rights at once.
                    account = store.user(request.session["user"])
                    if account is None or not hmac.compare_digest(_account_mark(account),
                                                                  request.session.get("account", "")):
                        request.session.clear()
                        return RedirectResponse(_url(request, "login"), status_code=303)
                    request.session["role"] = account["role"]
                    if role and account["role"] != role:
                        return render(request, "error.html", 403, message=f"This needs the {role} role.")
                    return handler(request, store, form)
            except PageError as exc:
                return render(request, "error.html", exc.status, message=exc.message)
            except UserError as exc:
                return render(request, "error.html", 400, message=str(exc))

        return endpoint

    # -- login ----------------------------------------------------------------------------------

    def login(request: Request):
        if request.method == "GET":
            return render(request, "login.html", next=_safe_next(request.query_params.get("next")))
        form = _form(request)
        if not _csrf_ok(request, form):
            return render(request, "login.html", 403, error="The form's security token is out of date; try again.",
                          next=_safe_next(form.get("next")))
        name, password = form.get("name", "").strip(), form.get("password", "")
        moment = time.monotonic()
        with failures_lock:
            recent = [t for t in failures.get(name, []) if moment - t < LOGIN_WINDOW]
            failures[name] = recent
        if len(recent) >= LOGIN_FAILURES:
            return render(request, "login.html", 429, error="Too many failed logins for this name; wait 15 "
                                                            "minutes.", next=_safe_next(form.get("next")))
        with FlagStore(db_path, mode="read") as store:
            account = store.user(name) if name else None
        # The hash is checked whether or not the name exists: the time taken does not tell which names do.
        ok = verify_password(password, account["password_hash"] if account else DUMMY_HASH) and account is not None
        if not ok:
            with failures_lock:
                failures.setdefault(name, []).append(moment)
            return render(request, "login.html", 401, error="Name or password not recognised.",
                          next=_safe_next(form.get("next")))
        with failures_lock:
            failures.pop(name, None)
        request.session.clear()
        request.session.update({"user": account["name"], "role": account["role"], "account": _account_mark(account),
                                "csrf": secrets.token_urlsafe(32)})
        return RedirectResponse(_safe_next(form.get("next")) or _url(request, "queue"), status_code=303)

    def logout(request: Request):
        form = _form(request)
        if request.session.get("user") and _csrf_ok(request, form):
            request.session.clear()
        return RedirectResponse(_url(request, "login"), status_code=303)

    # -- the queue and one flag -------------------------------------------------------------------

    def queue(request: Request, store: FlagStore, form):
        filters = _filters(request.query_params)
        try:
            pageno = max(1, int(request.query_params.get("page") or 1))
        except ValueError:
            pageno = 1
        query = _query(filters, request.session["user"], second_review_share)
        total = len(store.queue_ids(**query))
        flags = store.open_flags(**query, limit=PAGE_SIZE, offset=(pageno - 1) * PAGE_SIZE)
        decided = store.decided_today(_today())
        # The whole queue again only if a filter narrowed it (an order alone does not).
        waiting = total if set(filters) <= {"order"} else len(
            store.queue_ids(**_query({}, request.session["user"], second_review_share)))
        return render(request, "queue.html", flags=flags, filters=filters, total=total, page=pageno,
                      pages=max(1, -(-total // PAGE_SIZE)), decided_today=decided, waiting=waiting,
                      bands=("likely", "review"))

    def flag(request: Request, store: FlagStore, form):
        incident_id = request.query_params.get("id", "")
        filters = _filters(request.query_params)
        audit = request.query_params.get("audit") == "1"
        row = store.latest_flag(incident_id)
        if row is None:
            raise PageError(404, "No flag for this incident in the store.")
        ids = _sequence(store, request, filters, audit)
        position = ids.index(incident_id) if incident_id in ids else None
        previous_id = ids[position - 1] if position else None
        next_id = ids[position + 1] if position is not None and position + 1 < len(ids) else (
            ids[0] if position is None and ids else None)
        history = store.flags_of(incident_id)
        decisions = store.reviews(incident_id)
        return render(request, "flag.html", flag=row, body=Markup(flag_body(row)),
                      probabilities=sorted(json.loads(row["probabilities"]).items(), key=lambda kv: -kv[1]),
                      linked=json.loads(row["linked_crimes"]), history=history, decisions=decisions,
                      previous_id=previous_id, next_id=next_id, position=position, count=len(ids),
                      filters=filters, audit=audit, seen=max((d["id"] for d in decisions), default=0))

    def decide(request: Request, store: FlagStore, form):
        incident_id = form.get("id", "")
        outcome = form.get("outcome", "")
        label = form.get("label") or None
        if outcome != "crime":
            label = None  # the label select always posts; it means something only with a crime
        note = (form.get("note") or "").strip() or None
        filters = _posted_filters(form)
        audit = form.get("audit") == "1"
        # The latest decision the flag page showed: a decision another reviewer made since refuses this one.
        seen = int(form["seen"]) if form.get("seen", "").isdigit() else None
        try:
            store.decide(incident_id, outcome, reviewer=request.session["user"], label=label, note=note,
                         source="web", seen=seen)
        except DecidedMeanwhile as exc:
            params = {**filters, "id": incident_id, "audit": "1" if audit else None}
            return render(request, "error.html", 409, message=str(exc),
                          link=_url(request, "flag", **params), link_text=f"Open {incident_id} again")
        return _after(request, store, filters, audit, flash=f"Decided {incident_id}: {outcome}"
                      + (f" ({label})" if label else "") + ".")

    def undo(request: Request, store: FlagStore, form):
        row = store.undo_last(request.session["user"])
        filters = _posted_filters(form)
        if row is None:
            request.session["flash"] = "Nothing of yours to undo."
            return RedirectResponse(_url(request, "queue", **filters), status_code=303)
        request.session["flash"] = f"Undid your decision on {row['incident_id']} ({row['outcome']})."
        params = {**filters, "id": row["incident_id"]}
        if form.get("audit") == "1":
            params["audit"] = "1"
        return RedirectResponse(_url(request, "flag", **params), status_code=303)

    def _sequence(store, request, filters, audit) -> list[str]:
        if audit:
            return [r["incident_id"] for r in store.audit_items(undecided=True)]
        return store.queue_ids(**_query(filters, request.session["user"], second_review_share))

    def _after(request, store, filters, audit, *, flash: str):
        if audit:
            ids = [r["incident_id"] for r in store.audit_items(undecided=True)]
        else:  # only the first: the next flag to open
            ids = [r["incident_id"] for r in store.open_flags(
                **_query(filters, request.session["user"], second_review_share), limit=1)]
        if not ids:
            request.session["flash"] = flash + " Nothing left to decide here."
            return RedirectResponse(_url(request, "audit") if audit else _url(request, "queue", **filters),
                                    status_code=303)
        request.session["flash"] = flash
        params = {**filters, "id": ids[0]}
        if audit:
            params["audit"] = "1"
        return RedirectResponse(_url(request, "flag", **params), status_code=303)

    # -- audit samples, stats, export -----------------------------------------------------------------

    def audit_page(request: Request, store: FlagStore, form):
        from classifier.review.render import review_stats

        stats = review_stats(store)
        return render(request, "audit.html", audits=stats["audit"], items=store.audit_items(undecided=True))

    def audit_draw(request: Request, store: FlagStore, form):
        from classifier.review.audit import draw_audit_sample

        path = Path(form.get("incidents", "").strip())
        try:
            size, seed = int(form.get("size", "")), int(form.get("seed", ""))
        except ValueError:
            raise PageError(400, "Give the sample size and the seed as whole numbers.") from None
        if size < 1 or not str(path):
            raise PageError(400, "Give the incidents file on the server and a sample size of at least 1.")
        if not path.is_file():
            raise PageError(400, "No such incidents file on the server.")
        scorer = (scorer_factory or _default_scorer)()
        sample_id, items, population = draw_audit_sample(path, store, size=size, seed=seed, scorer=scorer)
        store.record_event({"at": now(), "by": request.session["user"], "action": "audit sample",
                            "sample": sample_id, "size": len(items), "population": population, "seed": seed})
        request.session["flash"] = f"Audit sample {sample_id}: {len(items)} of {population} unflagged incidents drawn."
        return RedirectResponse(_url(request, "audit"), status_code=303)

    def stats_page(request: Request, store: FlagStore, form):
        from classifier.review.render import review_stats

        return render(request, "stats.html", stats=review_stats(store), second_review_share=second_review_share)

    def export(request: Request, store: FlagStore, form):
        columns = ["incident_id", "outcome", "label", "reviewer", "reviewed_at", "note", "predicted_label",
                   "confidence"]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for r in store.decisions():
            writer.writerow({c: r[c] for c in columns})
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": 'attachment; filename="reviews.csv"'})

    static = StaticFiles(packages=[("classifier.web", "static")])
    routes = [
        Route("/login", login, methods=["GET", "POST"], name="login"),
        Route("/logout", logout, methods=["POST"], name="logout"),
        Route("/", page(queue), name="queue"),
        Route("/flag", page(flag), name="flag"),
        Route("/decide", page(decide, write=True), methods=["POST"], name="decide"),
        Route("/undo", page(undo, write=True), methods=["POST"], name="undo"),
        Route("/audit", page(audit_page), name="audit"),
        Route("/audit/draw", page(audit_draw, role="admin", write=True), methods=["POST"], name="audit_draw"),
        Route("/stats", page(stats_page), name="stats"),
        Route("/export.csv", page(export, role="admin"), name="export"),
        Mount("/static", static, name="static"),
    ]
    middleware = [
        Middleware(SecurityHeaders),
        Middleware(SessionMiddleware, secret_key=secret, session_cookie=SESSION_COOKIE,
                   max_age=SESSION_HOURS * 3600, same_site="strict", https_only=https_only),
        Middleware(FormReader),
    ]
    return Starlette(routes=routes, middleware=middleware, exception_handlers={404: _not_found})


async def _not_found(request: Request, exc) -> Response:
    return HTMLResponse("<!DOCTYPE html><title>Not found</title><p>Not found.</p>", status_code=404)


def _default_scorer():
    from classifier.api import load_scorer

    return load_scorer()


def _today() -> str:
    """Midnight UTC today: decisions are stamped in UTC."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT00:00:00+00:00")


def _account_mark(account) -> str:
    """Changes whenever the account's password (a new salt) or role does; the session keeps the one of its
    login. A digest, so the cookie carries nothing of the hash itself."""
    return hashlib.sha256(f"{account['role']}\0{account['password_hash']}".encode()).hexdigest()[:32]


def _form(request: Request) -> dict:
    """The posted form, already read (the endpoint runs in a worker thread, so it is read there)."""
    return request.state.form


def _csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def _csrf_ok(request: Request, form: dict) -> bool:
    expected = request.session.get("csrf")
    given = form.get("csrf", "")
    return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


def _filters(params) -> dict:
    filters = {k: (params.get(k) or "").strip() for k in FILTERS}
    if filters["label"] not in OFFENCE_LABELS:
        filters["label"] = ""
    if filters["band"] not in ("likely", "review"):
        filters["band"] = ""
    if filters["order"] not in ORDERS:
        filters["order"] = ""
    for key in ("since", "until"):
        if filters[key] and decision_time(filters[key]) is None:
            filters[key] = ""
    return {k: v for k, v in filters.items() if v}


def _posted_filters(form: dict) -> dict:
    """The queue's filters a form carries along, as f_<name> (a decision's own `label` is another field)."""
    return _filters({k[2:]: v for k, v in form.items() if k.startswith("f_")})


def _query(filters: dict, reviewer: str, share: float) -> dict:
    return {"label": filters.get("label"), "band": filters.get("band"), "since": filters.get("since"),
            "until": filters.get("until"), "code": filters.get("code"), "search": filters.get("q"),
            "order": filters.get("order") or "value", "reviewer": reviewer, "second_share": share}


def _url(request: Request, name: str, **params) -> str:
    base = str(request.url_for(name).path)
    params = {k: v for k, v in params.items() if v not in (None, "")}
    return base + ("?" + urlencode(params) if params else "")


def _relative(request: Request) -> str:
    return request.url.path + ("?" + request.url.query if request.url.query else "")


def _safe_next(value: str | None) -> str | None:
    """Only a path on this server: a login link must not send a reviewer elsewhere afterwards."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return None


class FormReader:
    """Reads a POST's form before the endpoint runs (endpoints are sync and run in a thread); a form too big
    for a decision is refused."""

    MAX_BYTES = 64 * 1024

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > self.MAX_BYTES:
            response = HTMLResponse("<!DOCTYPE html><p>Form too large.</p>", status_code=413)
            return await response(scope, receive, send)
        async with request.form(max_files=0, max_fields=50) as form:
            scope.setdefault("state", {})["form"] = {k: v for k, v in form.items() if isinstance(v, str)}
        await self.app(scope, receive, send)
