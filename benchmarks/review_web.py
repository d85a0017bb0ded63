"""The review web page served for real with 10,000 open flags: page speed, eight reviewers deciding at once,
and requests without a session or token refused.

    python benchmarks/review_web.py                      # 10,000 flags, 8 reviewers, 1,000 decisions
    python benchmarks/review_web.py --keep /tmp/rw       # keep the scanned store there, and reuse it next time
    python benchmarks/review_web.py --flags 2000 --decisions 200 --flag-pages 50

Set-up, in a temporary folder (or --keep): N incident logs in CAD style, 100 to 200 words each, put together at
random from a few dozen hand-written entries (benchmark data, not corpus); `scan --rules-only --threshold 0
--db` makes each of them an open flag with what scan stores (label, band, confidence, probabilities, the rules'
evidence). Then one admin and 8 reviewer accounts, the password hashed with scrypt at n=2**14, not 2**17, to
keep the set-up fast (a login checks a hash at the cost it was made with). The scan takes about 3 minutes for
10,000 logs on 2 cores. A copy of the store is served by `incident-classifier serve` in a process of its own
(uvicorn, one worker; started again for each second review share); every request goes over HTTP from this
process, logged in through the login form with its CSRF token.

It prints:
1. Page speed, second review share 0.1 (serve's default), as the admin: median, p95 and max ms per page kind:
   the queue (default, label and band filter, teach order, text search, page 100) and flag pages (200
   different flags without filters, with a label filter in the teach order, with a search; each works out
   previous/next over the whole queue), and whether p95 is under 200 ms.
2. Concurrency, second review share 0: 8 reviewers, each in its own thread with its own session, decide 1,000
   distinct flags at once, each through its flag page and the page's /decide form (hidden fields, the label
   selected, an outcome, sometimes a note). Each reviewer has an interleaved share of the queue's first 1,000;
   5 flags of each share are also tried by the next reviewer at about the same time (40 collisions). The
   app's rule: a decision goes in only if no other reviewer decided the flag after its page was shown (the
   form's `seen`); else 409, "X decided it while you had it open", and nothing recorded. A reviewer whose page
   already shows a decision moves on. Prints decisions/s, POST latency median/p95/max, how many POSTs were
   recorded, refused (409) or failed, then checks the store: decision rows added = successful POSTs, lost and
   duplicated (a second live row of one flag, reviewer and outcome) (target 0/0), every decided flag's status
   'decided', no flag decided by two reviewers.
3. Refusals: requests without a session, and with a session but without or with a wrong CSRF token: the status
   codes, and whether the store (decisions, flags by status, audit log) is unchanged.
1b. Page speed again after those decisions, as a reviewer, share 0.1: the queue now holds decided flags chosen
   for a second review.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "bench password 1234"
TARGET_MS = 200
REVIEWERS = [f"rev{k}" for k in range(1, 9)]

# CAD-style log entries. {t}: a time; the rest are filled per log so no two logs read the same.
OPENINGS = [
    "CH: RP F {age} STATES EX P/NER {name} AT THE DOOR OF {place} SHOUTING, REFUSING TO LEAVE",
    "CH: 3RD PTY RP NEIGHBOUR REPORTING SHOUTING AND BANGING FROM {place}, F VOICE HEARD SCREAMING",
    "CH: RP M {age} STATES HE WAS ATTACKED BY A GROUP OF MALES OUTSIDE {place}",
    "CH: RP F {age} CALLING FROM A FRIENDS ADDRESS, WANTS TO REPORT SOMETHING THAT HAPPENED LAST NIGHT",
    "CH: DOOR STAFF AT {place} REQUESTING POLICE FOR A MALE WHO HAS BEEN EJECTED AND IS NOW FIGHTING",
    "CH: RP F {age} STATES A MALE KNOWN TO HER AS {name} KEEPS TURNING UP AT HER WORK AND MESSAGING HER",
    "CH: SCHOOL SAFEGUARDING LEAD REPORTING A DISCLOSURE FROM A PUPIL AGED {kid}",
    "CH: RP M {age} REPORTING HIS PARTNER HAS LOCKED HIM OUT OF {place} AFTER AN ARGUMENT",
    "CH: AMBO REQUESTING POLICE AT {place}, F PATIENT WITH FACIAL INJURIES, STATES SHE FELL",
    "CH: RP STATES TAXI DRIVER TOOK A LONG ROUTE AND TOUCHED HER LEG REPEATEDLY, NOW AT {place}",
]
HISTORY = [
    "PREV: {n}X DV AT ADDRESS THIS YEAR, BOTH VERBAL",
    "PREV: NO TRACE ON PNC FOR {name}",
    "PREV: MARKER ON ADDRESS, CONCERN FOR CHILDREN, SOCIAL SERVICES INVOLVED",
    "PREV: {name} WANTED ON WARRANT FOR FAIL TO APPEAR",
    "PREV: NON-MOLESTATION ORDER IN PLACE UNTIL MARCH",
]
DISPATCH = [
    "DISP: {unit} ASSIGNED ETA {eta}",
    "DISP: NO UNITS AVAILABLE, RP ADVISED OF DELAY, CALL BACK IN 20 MINS",
    "DISP: {unit} AND {unit2} ASSIGNED, BLUE LIGHTS AUTHORISED",
    "{unit} ONS",
    "{unit}: ON SCENE, SPEAKING TO BOTH PARTIES SEPARATELY",
]
# What the caller or victim says: plain disclosures, weaker or unclear ones, and none.
DISCLOSURES = [
    "IP STATES HE PUNCHED HER IN THE FACE TWICE AND SHE HAS A CUT LIP AND SWELLING TO LEFT EYE",
    "IP STATES HE GRABBED HER BY THE THROAT AGAINST THE WALL UNTIL SHE COULD NOT BREATHE",
    "IP STATES HE SHOVED HER INTO THE WARDROBE DOOR WHEN SHE TRIED TO TAKE HIS PHONE, NO MARKS SEEN",
    "IP DISCLOSES THAT {name} RAPED HER AT HIS FLAT LAST NIGHT AFTER SHE SAID NO SEVERAL TIMES",
    "IP STATES A MALE PUT HIS HAND UP HER SKIRT ON THE BUS AND TOUCHED HER WITHOUT CONSENT",
    "IP STATES {name} HAS SENT OVER {n}0 MESSAGES A DAY FOR THREE WEEKS AND FOLLOWS HER HOME FROM WORK",
    "IP STATES SHE WAS KICKED REPEATEDLY WHILE ON THE FLOOR, BRUISING TO RIBS, AMBO CONVEYED TO HOSPITAL",
    "IP STATES HE THREATENED TO KILL HER IF SHE CALLED THE POLICE AGAIN, NO ASSAULT TONIGHT",
    "VICTIM STATES HE WAS HIT OVER THE HEAD WITH A BOTTLE, LACERATION TO SCALP, BLEEDING HEAVILY",
    "PUPIL DISCLOSED THAT AN ADULT FAMILY FRIEND TOUCHED HER SEXUALLY ON SEVERAL OCCASIONS",
    "IP STATES {name} SPAT AT HER AND SLAPPED HER ACROSS THE FACE, REDNESS TO CHEEK",
    "IP STATES SHE WOKE UP TO {name} HAVING SEX WITH HER WHILE SHE WAS ASLEEP",
    "IP STATES {name} KEEPS DRIVING PAST HER HOUSE AND HAS CREATED FAKE ACCOUNTS TO CONTACT HER",
]
UNCLEAR = [
    "IP STATES HE RAISED HIS FIST AS IF TO HIT HER BUT DID NOT",
    "RP STATES EX KEEPS CALLING HER, SHE HAS ASKED HIM TO STOP",
    "3RD PTY STATES THEY SAW A MALE DRAGGING A FEMALE ALONG THE ROAD",
    "IP HAS A BRUISE ON HER ARM, WILL NOT SAY HOW IT HAPPENED",
    "IP STATES SHE WAS PUNCHED BUT THEN SAYS SHE WAS JOKING",
    "ALLEGATION OF ASSAULT WITHDRAWN BY RP",
    "MALE STATES FEMALE SCRATCHED HIS FACE IN SELF DEFENCE",
]
NOTHING = [
    "IP STATES BOTH WERE SHOUTING, WORDS EXCHANGED ONLY, NO ASSAULT, NO INJURIES, NEVER BEEN PHYSICAL",
    "MALE STATES HE WAS ONLY TRYING TO GET HIS KEYS BACK AND NOBODY WAS HURT",
    "NO DISCLOSURE MADE, RP SAYS IT WAS A MISUNDERSTANDING AND WANTS NO FURTHER ACTION",
    "IP STATES HE PUSHED PAST HER IN THE HALLWAY, SHE IS NOT SURE IF IT WAS DELIBERATE",
    "IP THINKS SOMEONE MAY HAVE SPIKED HER DRINK, REMEMBERS NOTHING AFTER MIDNIGHT",
]
DETAILS = [
    "BWV ON, ACCOUNT RECORDED",
    "DASH {dash}, REFERRAL TO IDVA",
    "CHILDREN X{n} IN THE PROPERTY, SEEN AND WELL",
    "SUSPECT DESCRIBED AS W/M, 30S, DARK HOODIE, LEFT ON FOOT TOWARDS {place}",
    "AREA SEARCH NEG",
    "CCTV REQUESTED FROM {place}",
    "IP DECLINES MEDICAL ATTENTION, PHOTOS OF INJURIES TAKEN",
    "IP DOES NOT WANT TO SUPPORT A PROSECUTION AT THIS TIME",
    "INTERPRETER REQUESTED, LANGUAGE LINE USED",
    "WITNESS AT NO {n} CONFIRMS HEARING A STRUGGLE",
    "SUSPECT HAS LEFT PRIOR TO POLICE ARRIVAL",
    "SAFEGUARDING ADVICE GIVEN, IP TO STAY WITH FAMILY TONIGHT",
]
OUTCOMES = [
    "{name} ARRESTED ON SUSPICION, CONVEYED TO CUSTODY",
    "CRIME REPORT TO FOLLOW, OIC PC {shoulder}",
    "NO OFFENCES DISCLOSED, ADVICE GIVEN, CLOSE",
    "OFFICER TO RETURN TOMORROW FOR VRI",
    "REFERRED TO SARC, EARLY EVIDENCE KIT USED",
    "CLOSE - SEE CRIME REF TO FOLLOW",
]
PLACES = ["FLAT 12 BARNHAM HOUSE", "THE RED LION", "TESCO EXPRESS HIGH ST", "14 MILL LANE", "THE BUS STATION",
          "ST MARYS PARK", "FLAT 3 ORCHARD COURT", "THE TRAIN STATION CAR PARK", "22 VICTORIA ROAD", "HER WORKPLACE"]
NAMES = ["JASON", "DARREN", "LEE", "CRAIG", "MARK", "DEAN", "SCOTT", "RYAN", "KYLE", "GARY", "PAUL", "SHANE"]
OPENING_CODES = ["DOMESTIC INCIDENT", "ASSAULT", "CONCERN FOR SAFETY", "SEXUAL OFFENCE", "HARASSMENT", "ASB",
                 "SUSPICIOUS CIRCUMSTANCES", "CHILD PROTECTION"]
CLOSING_CODES = ["DOMESTIC - VERBAL ONLY", "CRIME RECORDED", "ADVICE GIVEN", "NO FURTHER ACTION", "NO CRIME",
                 "FILED - ENQUIRIES COMPLETE", "RESOLVED BY PHONE", ""]


def accounts(rng: random.Random) -> list[str]:
    """Most logs disclose an offence plainly; a third only unclearly; a few not at all."""
    roll = rng.random()
    if roll < 0.6:
        return rng.sample(DISCLOSURES, 1) + rng.sample(UNCLEAR + NOTHING, rng.randint(0, 1))
    if roll < 0.93:
        return rng.sample(UNCLEAR, 1) + rng.sample(NOTHING, rng.randint(0, 2))
    return rng.sample(NOTHING, rng.randint(1, 2))


def make_log(rng: random.Random) -> str:
    """One incident log of about 100 to 200 words: an opening, history, dispatch, accounts, details, an end."""
    def fill(piece: str) -> str:
        return piece.format(age=rng.randint(17, 70), name=rng.choice(NAMES), place=rng.choice(PLACES),
                            kid=rng.randint(8, 15), n=rng.randint(2, 9), unit=f"MP{rng.randint(10, 99)}",
                            unit2=f"ALPHA {rng.randint(10, 40)}", eta=rng.randint(5, 25),
                            dash=rng.choice(["STANDARD", "MEDIUM", "HIGH"]), shoulder=rng.randint(1000, 9999))

    pieces = ([rng.choice(OPENINGS)] + rng.sample(HISTORY, rng.randint(0, 2)) + rng.sample(DISPATCH, 2)
              + accounts(rng) + rng.sample(DETAILS, rng.randint(4, 7))
              + [rng.choice(OUTCOMES)])
    lines, minute = [], rng.randint(0, 23 * 60)
    for piece in pieces:
        lines.append(f"{minute // 60 % 24:02d}{minute % 60:02d} {fill(piece)}")
        minute += rng.randint(1, 25)
    text = "\n".join(lines)
    while len(text.split()) < 100:  # a short draw: more officer's notes
        minute += rng.randint(1, 25)
        text += f"\n{minute // 60 % 24:02d}{minute % 60:02d} {fill(rng.choice(DETAILS))}"
    return text


def build_store(folder: Path, n: int, seed: int) -> Path:
    """N logs scanned into a flag store (every log an open flag) with the accounts: `scanned.sqlite` in
    `folder`, kept there and used again while it holds N flags. Returns a copy to work on."""
    from classifier.review.store import FlagStore
    from classifier.web.accounts import hash_password

    scanned, db = folder / "scanned.sqlite", folder / "flags.sqlite"
    seconds = None
    if not (scanned.exists() and _flag_count(scanned) == n):
        scanned.unlink(missing_ok=True)
        rng = random.Random(seed)
        logs, crimes = folder / "logs.csv", folder / "crimes.csv"
        with open(logs, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["incident_id", "opened_at", "opening_code", "closing_code", "text"])
            for i in range(n):
                text = make_log(rng)
                day = rng.randint(0, 89)
                opened = (f"2026-{9 + day // 30:02d}-{1 + day % 30:02d}T{rng.randint(0, 23):02d}:"
                          f"{rng.randint(0, 59):02d}:00")
                writer.writerow([f"BM-{opened[:10].replace('-', '')}-{i:05d}", opened, rng.choice(OPENING_CODES),
                                 rng.choice(CLOSING_CODES), text])
        crimes.write_text("crime_id,incident_id\n", encoding="utf-8")
        started = time.perf_counter()
        done = subprocess.run(_cli("scan", str(logs), "--crimes", str(crimes), "-o", str(folder / "flags.jsonl"),
                                   "--rules-only", "--threshold", "0", "--db", str(scanned), "--workers", "2",
                                   "--quiet"), env=_env(), capture_output=True, text=True, check=False)
        if done.returncode:
            raise RuntimeError(f"scan failed:\n{done.stderr}")
        seconds = time.perf_counter() - started
        cheap = hash_password(PASSWORD, n=2 ** 14)
        with FlagStore(scanned, mode="write") as store:
            store.add_user("admin", "admin", cheap)
            for name in REVIEWERS:
                store.add_user(name, "reviewer", cheap)
    db.unlink(missing_ok=True)
    with sqlite3.connect(scanned) as source, sqlite3.connect(db) as copy:
        source.backup(copy)
    with FlagStore(db, mode="read") as store:
        counts = store.status_counts()
        labels = store.con.execute("SELECT label, COUNT(*) FROM flags GROUP BY label ORDER BY 2 DESC").fetchall()
        bands = store.con.execute("SELECT band, COUNT(*), MIN(confidence), MAX(confidence) FROM flags "
                                  "GROUP BY band ORDER BY band").fetchall()
        length = statistics.mean(len(text.split()) for (text,) in store.con.execute("SELECT text FROM flags"))
        evidence = store.con.execute("SELECT AVG(json_array_length(evidence)) FROM flags").fetchone()[0]
        users = len(store.users())
    made = f"scanned (scan --rules-only --threshold 0 --db) in {seconds:.0f} s" if seconds else f"reused from {scanned}"
    print(f"store: {n:,} logs of {length:.0f} words on average, {made}; flags by status {counts}; "
          f"{evidence:.1f} evidence items a flag on average; {users} accounts")
    print("  labels: " + ", ".join(f"{label} {count}" for label, count in labels))
    print("  bands: " + ", ".join(f"{band} {count} (confidence {low:.2f}-{high:.2f})" for band, count, low, high in bands))
    return db


def _flag_count(db: Path) -> int | None:
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return con.execute("SELECT COUNT(*) FROM flags WHERE status = 'open'").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError:
        return None


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from classifier.cli import main; main()", *args]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(db: Path, share: float, log: Path):
    """`incident-classifier serve` in its own process; yields the base URL."""
    port = _free_port()
    with open(log, "a", encoding="utf-8") as out:
        proc = subprocess.Popen(_cli("serve", "--db", str(db), "--port", str(port), "--second-review", str(share)),
                                env=_env(), stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(base + "/login", timeout=2)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not start; see {log}") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def login(base: str, name: str) -> httpx.Client:
    """A client with its own session, logged in through the login form."""
    client = httpx.Client(base_url=base, timeout=120)
    page = client.get("/login")
    landed = client.post("/login", data={"name": name, "password": PASSWORD, "csrf": csrf_of(page.text)})
    if landed.status_code != 303:
        raise RuntimeError(f"login of {name} failed: {landed.status_code}")
    return client


def timed_get(client: httpx.Client, url: str) -> tuple[float, httpx.Response]:
    started = time.perf_counter()
    response = client.get(url)
    ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"GET {url}: {response.status_code}")
    return ms, response


def quantiles(ms: list[float]) -> tuple[float, float, float]:
    ordered = sorted(ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95, ordered[-1]


def store_snapshot(db: Path) -> tuple:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return (con.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM reviews").fetchone(),
                tuple(con.execute("SELECT status, COUNT(*) FROM flags GROUP BY status ORDER BY status").fetchall()),
                con.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0])
    finally:
        con.close()


def queue_ids(db: Path, **filters) -> list[str]:
    from classifier.review.store import FlagStore

    with FlagStore(db, mode="read") as store:
        return store.queue_ids(**filters)


# -- 1. page speed -------------------------------------------------------------------------------------------

def page_speed(base: str, db: Path, flag_pages: int, repeats: int, seed: int, *, user: str, share: float,
               title: str) -> None:
    client = login(base, user)
    rng = random.Random(seed)
    ids = queue_ids(db, reviewer=user, second_share=share)
    label = rng.choice(["rape", "violence_with_injury", "stalking_harassment"])
    queue_pages = {
        "queue, default": "/",
        "queue, label and band filter": f"/?label={label}&band=likely",
        "queue, teach order": "/?order=teach",
        "queue, search 'bottle'": "/?q=bottle",
        "queue, page 100": "/?page=100",
    }
    for url in list(queue_pages.values())[:2]:
        timed_get(client, url)  # warm up
    results = {}
    for kind, url in queue_pages.items():
        results[kind] = [timed_get(client, url)[0] for _ in range(repeats)]
    sample = rng.sample(ids, flag_pages)
    results[f"flag, no filter ({len(sample)} flags)"] = [timed_get(client, f"/flag?id={i}")[0] for i in sample]
    labelled = queue_ids(db, label=label, reviewer=user, second_share=share)
    filtered = rng.sample(labelled, min(flag_pages, len(labelled)))
    results[f"flag, label filter, teach order ({len(filtered)})"] = [
        timed_get(client, f"/flag?id={i}&label={label}&order=teach")[0] for i in filtered]
    results[f"flag, search 'bottle' ({len(sample)})"] = [
        timed_get(client, f"/flag?id={i}&q=bottle")[0] for i in sample]
    client.close()
    print(f"\n{title}, {len(ids):,} flags in {user}'s queue, one client; label filter {label}, band likely")
    print(f"   {'page':<44} {'n':>4} {'median':>7} {'p95':>7} {'max':>7}  p95 < {TARGET_MS} ms")
    for kind, ms in results.items():
        median, p95, top = quantiles(ms)
        print(f"   {kind:<44} {len(ms):>4} {median:>7.1f} {p95:>7.1f} {top:>7.1f}  {'yes' if p95 < TARGET_MS else 'NO'}")


# -- 2. concurrency ------------------------------------------------------------------------------------------

def concurrency(base: str, db: Path, decisions: int, collisions_each: int, seed: int) -> None:
    ids = queue_ids(db)[:decisions]
    before = store_snapshot(db)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        first_review = con.execute("SELECT COALESCE(MAX(id), 0) FROM reviews").fetchone()[0]
    shares = {name: ids[k::len(REVIEWERS)] for k, name in enumerate(REVIEWERS)}
    # Collisions: every len/collisions_each-th flag of a reviewer's share is also tried by the next reviewer,
    # at the same place in its own list, so both have it open at about the same time.
    plans = {name: list(share) for name, share in shares.items()}
    step = max(1, len(shares[REVIEWERS[0]]) // collisions_each) if collisions_each else 0
    for k, name in enumerate(REVIEWERS):
        other = REVIEWERS[(k + 1) % len(REVIEWERS)]
        for pos in range(step // 2, len(shares[name]), step) if step else ():
            plans[other].insert(min(pos, len(plans[other])), shares[name][pos])
    clients = {name: login(base, name) for name in REVIEWERS}
    barrier = threading.Barrier(len(REVIEWERS) + 1)
    results: dict[str, list] = {name: [] for name in REVIEWERS}
    rng = random.Random(seed)
    choices = {name: random.Random(rng.random()) for name in REVIEWERS}

    def review(name: str) -> None:
        client, pick, out = clients[name], choices[name], results[name]
        barrier.wait()
        for incident_id in plans[name]:
            page = client.get("/flag", params={"id": incident_id})
            if page.status_code != 200:
                out.append((incident_id, None, None, page.status_code, 0.0, page.text[:300]))
                continue
            if not re.search(r"<h2>Decisions</h2>\s*<p>None yet.</p>", page.text):
                out.append((incident_id, None, None, "skipped", 0.0, ""))  # the page shows a decision: next
                continue
            roll = pick.random()
            outcome = "crime" if roll < 0.6 else "no_crime" if roll < 0.9 else "already_recorded"
            # What the browser posts: the form's hidden fields, the label selected (the flag's, else the first).
            start = page.text.index('id="decide"')
            form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">',
                                   page.text[start:page.text.index("</form>", start)]))
            selected = re.search(r'<option value="([^"]+)" selected>', page.text)
            form.update(outcome=outcome, label=selected.group(1) if selected else re.search(
                r'<select name="label" id="label">\s*<option value="([^"]+)"', page.text).group(1),
                note="checked with the OIC" if roll < 0.2 else "")
            started = time.perf_counter()
            response = client.post("/decide", data=form)
            ms = (time.perf_counter() - started) * 1000
            out.append((incident_id, outcome, form["label"] if outcome == "crime" else None, response.status_code,
                        ms, response.text[:300] if response.status_code not in (303, 409) else ""))

    threads = [threading.Thread(target=review, args=(name,)) for name in REVIEWERS]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    for c in clients.values():
        c.close()

    posts = [(name, *r) for name, rs in results.items() for r in rs if r[1] is not None]
    ok = [p for p in posts if p[4] == 303]
    refused = [p for p in posts if p[4] == 409]
    skipped = [(name, *r) for name, rs in results.items() for r in rs if r[3] == "skipped"]
    errors = [p for p in posts if p[4] not in (303, 409)] + [
        (name, *r) for name, rs in results.items() for r in rs if r[1] is None and r[3] != "skipped"]
    tried_twice = {i for name in REVIEWERS for i in plans[name]}
    tried_twice = {i for i in tried_twice if sum(i in plans[name] for name in REVIEWERS) > 1}
    latency = [p[5] for p in posts]
    median, p95, top = quantiles(latency)
    print(f"\n2. Concurrency: {len(REVIEWERS)} reviewers at once, second review share 0, {decisions:,} distinct "
          f"flags, {len(tried_twice)} of them tried by two reviewers")
    print(f"   {len(posts):,} decision POSTs in {seconds:.1f} s (each after its flag page): {len(ok) / seconds:.1f} "
          f"decisions/s; POST latency median {median:.1f} ms, p95 {p95:.1f} ms, max {top:.1f} ms")
    print(f"   recorded (303) {len(ok):,}; refused, another reviewer decided it meanwhile (409) {len(refused)}; "
          f"not posted, the page showed it decided {len(skipped)}; errors {len(errors)}")
    for e in errors[:5]:
        print(f"     error: {e[0]} {e[1]} -> {e[4]} {e[6]!r}")

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as con:
        rows = con.execute("SELECT r.incident_id, r.reviewer, r.outcome, r.label, r.flag_id, f.status FROM reviews r "
                           "JOIN flags f ON f.id = r.flag_id WHERE r.id > ? AND r.duplicate_of IS NULL "
                           "AND r.retracted_at IS NULL", (first_review,)).fetchall()
    recorded = {}
    for incident_id, reviewer, outcome, label, flag_id, status in rows:
        recorded.setdefault((incident_id, reviewer, outcome), []).append((label, status))
    lost = sum((incident_id, name, outcome) not in recorded for name, incident_id, outcome, *_ in ok)
    duplicated = sum(len(v) - 1 for v in recorded.values())
    not_decided = sum(status != "decided" for v in recorded.values() for _, status in v)
    unexpected = len({(i, r, o) for i, r, o in recorded} - {(p[1], p[0], p[2]) for p in ok})
    by_flag: dict[str, set] = {}
    for incident_id, reviewer, *_ in rows:
        by_flag.setdefault(incident_id, set()).add(reviewer)
    two_reviewers = sum(len(v) > 1 for v in by_flag.values())
    undecided = sum(i not in by_flag for i in ids)
    after = store_snapshot(db)
    print(f"   store: {len(rows):,} decision rows added for {len(ok):,} successful POSTs "
          f"({'equal' if len(rows) == len(ok) else 'NOT EQUAL'}); lost {lost}, duplicated {duplicated} (target 0/0); "
          f"rows no POST made {unexpected}")
    print(f"   {len(by_flag):,} flags decided, each status 'decided': {'yes' if not not_decided else f'NO ({not_decided})'}; "
          f"flags with two reviewers' decisions {two_reviewers}; of the {decisions:,} flags left open {undecided}")
    print(f"   flags by status before {dict(before[1])}, after {dict(after[1])}")


# -- 3. refusals ---------------------------------------------------------------------------------------------

def refusals(base: str, db: Path) -> None:
    before = store_snapshot(db)
    incident_id = queue_ids(db)[0]
    decision = {"id": incident_id, "outcome": "no_crime"}
    checks = []
    anonymous = httpx.Client(base_url=base, timeout=60)
    for path in ("/", f"/flag?id={incident_id}", "/stats", "/export.csv"):
        r = anonymous.get(path)
        checks.append((f"GET {path}, no session", r.status_code,
                       r.status_code == 303 and r.headers["location"].startswith("/login")))
    for label, data in (("no token", decision), ("a made-up token", {**decision, "csrf": "x" * 43})):
        r = anonymous.post("/decide", data=data)
        checks.append((f"POST /decide, no session, {label}", r.status_code, r.status_code == 401))
    r = anonymous.post("/undo", data={"csrf": "x" * 43})
    checks.append(("POST /undo, no session", r.status_code, r.status_code == 401))
    anonymous.close()
    bob, cat = login(base, REVIEWERS[0]), login(base, REVIEWERS[1])
    token = csrf_of(bob.get(f"/flag?id={incident_id}").text)
    other = csrf_of(cat.get("/").text)
    wrong = token[:-1] + ("A" if token[-1] != "A" else "B")
    for label, extra in (("without a token", {}), ("an empty token", {"csrf": ""}),
                         ("a wrong token", {"csrf": wrong}), ("another session's token", {"csrf": other})):
        r = bob.post("/decide", data={**decision, **extra})
        checks.append((f"POST /decide, session, {label}", r.status_code, r.status_code == 403))
    r = bob.post("/undo", data={"csrf": wrong})
    checks.append(("POST /undo, session, a wrong token", r.status_code, r.status_code == 403))
    r = bob.post("/logout", data={"csrf": wrong})
    still = bob.get("/")
    checks.append(("POST /logout, a wrong token (still logged in)", r.status_code, still.status_code == 200))
    login_page = httpx.Client(base_url=base, timeout=60)
    r = login_page.post("/login", data={"name": REVIEWERS[0], "password": PASSWORD})
    checks.append(("POST /login without the form's token", r.status_code, r.status_code == 403))
    login_page.close()
    bob.close()
    cat.close()
    after = store_snapshot(db)
    print("\n3. Refused requests")
    for what, status, good in checks:
        print(f"   {what:<50} {status}  {'refused' if good else 'NOT REFUSED'}")
    print(f"   store unchanged (decisions, flags by status, audit log): {'yes' if after == before else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flags", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=1_000)
    parser.add_argument("--flag-pages", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=30, help="Requests per queue page kind.")
    parser.add_argument("--collisions", type=int, default=5, help="Flags of each reviewer's share also tried by "
                                                                   "the next reviewer.")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, default=None,
                        help="Keep the scanned store in this folder, and use it again on the next run (each run "
                             "works on a copy).")
    args = parser.parse_args()
    print(f"review web benchmark on {os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f}: other work on "
          f"the machine slows every figure), Python {sys.version.split()[0]}, httpx {httpx.__version__}")
    with tempfile.TemporaryDirectory(prefix="review-web-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        db = build_store(folder, args.flags, args.seed)
        log = folder / "server.log"
        with served(db, 0.1, log) as base:
            page_speed(base, db, args.flag_pages, args.repeats, args.seed, user="admin", share=0.1,
                       title="1. Page speed (serve's default second review share 0.1)")
        with served(db, 0.0, log) as base:
            concurrency(base, db, args.decisions, args.collisions, args.seed)
            refusals(base, db)
        with served(db, 0.1, log) as base:
            page_speed(base, db, args.flag_pages // 2, args.repeats // 2, args.seed + 1, user=REVIEWERS[0], share=0.1,
                       title="1b. Page speed again after those decisions (second review 0.1: other reviewers' "
                             "decisions come back)")
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
