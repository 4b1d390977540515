"""Accounts: the e-mail and password rules, sign-up and sign-in (argon2, throttled per account and
client: throttle.py). Front ends call them as `Platform.sign_up` / `Platform.sign_in` (platform.py)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import throttle, web_sessions
from .errors import AuthError
from .tables import LoginAttempt, Surgeon, utcnow
from .records import SurgeonRecord
from .session import SurgeonSession

if TYPE_CHECKING:  # pragma: no cover
    from .service import Platform

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024  # argon2 accepts more; a cap keeps a hostile request cheap

# Deliberately simple: one @, no spaces, a dot in the domain. Real validation is a confirmation
# mail, which a local dashboard does not send.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# A hash to verify against when the e-mail is unknown, so that a wrong e-mail and a wrong
# password take the same time and cannot be told apart.
_DUMMY_HASH = _hasher.hash("not a real password, only here for constant timing")


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not _EMAIL.match(email) or len(email) > 320:
        raise AuthError(f"'{email}' is not a valid e-mail address: enter it as name@example.org.")
    return email


def check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AuthError(f"The password is too short: use at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AuthError(f"The password is too long: use at most {MAX_PASSWORD_LENGTH} characters.")


TAKEN = ("No account was created: this e-mail cannot be used for a new account. If it is yours, sign in on the "
         "Sign in tab.")


def sign_up(platform: "Platform", email: str, name: str, password: str, ip: Optional[str] = None,
            device: Optional[str] = None) -> SurgeonSession:
    """Create an account and return it signed in. Raises AuthError for a bad e-mail or a short password, and
    for an e-mail that has an account: sign-up never signs anyone in to an existing account, whatever password
    is typed. That refusal is throttled and counted like a failed sign-in (it tells that the e-mail is taken)."""
    email = normalize_email(email)
    check_password(password)
    name = (name or "").strip() or email.split("@")[0]
    password_hash = _hasher.hash(password)  # before the look-up: a taken e-mail costs the same time
    with platform.Session() as db:
        taken = db.scalar(select(Surgeon.id).where(Surgeon.email == email)) is not None
    if not taken:
        try:
            with platform.Session.begin() as db:
                surgeon = Surgeon(email=email, name=name[:200], password_hash=password_hash)
                db.add(surgeon)
                db.flush()
                record = SurgeonRecord.of(surgeon)
            return SurgeonSession(platform, record)
        except IntegrityError:  # another sign-up with the same e-mail won the race
            pass
    now = utcnow()
    with platform.Session() as db:
        trusted = web_sessions.is_trusted(db, email, device, now)
        client = throttle.Client(ip, web_sessions.digest(device)).key(trusted)
        throttle.check(db, email, client, trusted, now)
        db.add(LoginAttempt(email=email, at=now, success=False, client=client))
        db.commit()
    raise AuthError(TAKEN)


def sign_in(platform: "Platform", email: str, password: str, ip: Optional[str] = None,
            device: Optional[str] = None) -> SurgeonSession:
    """Check the password and return the surgeon's session.

    `ip` (the request's address) and `device` (the browser's device cookie, web_sessions.py) say who
    is trying: throttle.py refuses, with RateLimitError and before the password is checked, a
    client that must still wait after its failures. A browser the account signed in from before is
    only held up by its own failures, so guesses from elsewhere never lock the owner out."""
    email = (email or "").strip().lower()[:320]
    now = utcnow()
    with platform.Session() as db:
        trusted = web_sessions.is_trusted(db, email, device, now)
        client = throttle.Client(ip, web_sessions.digest(device)).key(trusted)
        throttle.check(db, email, client, trusted, now)
        surgeon = db.scalar(select(Surgeon).where(Surgeon.email == email))
        ok = False
        try:
            ok = _hasher.verify(surgeon.password_hash if surgeon else _DUMMY_HASH, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            ok = False
        ok = ok and surgeon is not None
        db.add(LoginAttempt(email=email, at=now, success=ok, client=client))
        if ok and _hasher.check_needs_rehash(surgeon.password_hash):
            surgeon.password_hash = _hasher.hash(password)
        db.commit()
        if not ok:
            raise AuthError("The e-mail or the password is wrong: check both and try again.")
        return SurgeonSession(platform, SurgeonRecord.of(surgeon))
