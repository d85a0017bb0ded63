"""Reviewers' passwords: a salted scrypt hash (RFC 7914, in the standard library), never the password."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from classifier.errors import InputError

# OWASP's scrypt setting (N=2^17, r=8, p=1) costs 128 MiB and about a quarter of a second a login here; a
# server for a team of reviewers can afford that, an attacker with a copied store pays it per guess.
N, R, P = 2 ** 17, 8, 1
MIN_PASSWORD = 12


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=32)


def hash_password(password: str, *, n: int = N) -> str:
    """`scrypt$n$r$p$salt$hash` (salt and hash in base64); refuses a password shorter than MIN_PASSWORD."""
    if len(password) < MIN_PASSWORD:
        raise InputError(None, None, f"a password needs at least {MIN_PASSWORD} characters")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, n, R, P)
    return "$".join(["scrypt", str(n), str(R), str(P), base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def verify_password(password: str, stored: str | None) -> bool:
    """Whether `password` matches the stored hash; False for a malformed or missing one."""
    try:
        kind, n, r, p, salt, digest = (stored or "").split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        return hmac.compare_digest(_scrypt(password, base64.b64decode(salt), int(n), int(r), int(p)), expected)
    except ValueError:
        return False


# Checked against when a name is unknown, so a login takes as long whether or not the account exists.
DUMMY_HASH = f"scrypt${N}${R}${P}$" + base64.b64encode(b"\0" * 16).decode() + "$" + base64.b64encode(b"\0" * 32).decode()
