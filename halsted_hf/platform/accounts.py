"""Accounts: sign-up, sign-in (argon2, throttled per account and client: throttle.py) and sign-out.

`Platform` is the one object a front end creates: it owns the engine and hands out a
`SurgeonSession` (session.py) per signed-in surgeon; every read and write of a surgeon's data
goes through that object and is filtered by the surgeon's id.

    platform = Platform()                       # settings from the environment, schema migrated
    me = platform.sign_up("a@b.org", "A. Surgeon", "a long password")
    me = platform.sign_in("a@b.org", "a long password")
    video = me.upload_video("case12.mp4")
    job = me.enqueue_job(video.id, "suturing")
    me.sign_out()
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from .db import init_db, session_factory
from . import throttle, web_sessions
from .errors import AuthError
from .models import LoginAttempt, Surgeon, utcnow
from .records import SurgeonRecord
from .session import SurgeonSession
from .settings import Settings

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


class Platform:
    """The data layer of one dashboard or worker process.

    `settings` defaults to `Settings.from_env()`. Creating a Platform migrates the database to the
    newest schema (cheap when it is already there)."""

    def __init__(self, settings: Optional[Settings] = None):
        self.settings = settings or Settings.from_env()
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.engine = init_db(self.settings.database_url)
        self.Session = session_factory(self.engine)

    # -- accounts ---------------------------------------------------------------------------
    def sign_up(self, email: str, name: str, password: str, ip: Optional[str] = None,
                device: Optional[str] = None) -> SurgeonSession:
        """Create an account and return it signed in. Raises AuthError for a bad e-mail or a short
        password. An e-mail that has an account is not announced: with its password this signs in,
        otherwise it fails like a wrong sign-in (same message, throttled the same way)."""
        email = normalize_email(email)
        check_password(password)
        name = (name or "").strip() or email.split("@")[0]
        with self.Session() as db:
            taken = db.scalar(select(Surgeon.id).where(Surgeon.email == email)) is not None
        if not taken:
            try:
                with self.Session.begin() as db:
                    surgeon = Surgeon(email=email, name=name[:200], password_hash=_hasher.hash(password))
                    db.add(surgeon)
                    db.flush()
                    record = SurgeonRecord.of(surgeon)
                return SurgeonSession(self, record)
            except IntegrityError:  # another sign-up with the same e-mail won the race
                pass
        return self.sign_in(email, password, ip=ip, device=device)

    def sign_in(self, email: str, password: str, ip: Optional[str] = None,
                device: Optional[str] = None) -> SurgeonSession:
        """Check the password and return the surgeon's session.

        `ip` (the request's address) and `device` (the browser's device cookie, web_sessions.py) say who
        is trying: throttle.py refuses, with RateLimitError and before the password is checked, a
        client that must still wait after its failures. A browser the account signed in from before is
        only held up by its own failures, so guesses from elsewhere never lock the owner out."""
        email = (email or "").strip().lower()[:320]
        now = utcnow()
        with self.Session() as db:
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
            return SurgeonSession(self, SurgeonRecord.of(surgeon))

    def sign_out(self, session: SurgeonSession) -> None:
        session.sign_out()

    # -- browser sessions (web_sessions.py) -----------------------------------------------------
    def start_web_session(self, session: SurgeonSession, device: Optional[str] = None) -> tuple:
        """(web session id, one-time grant) for a surgeon who just signed in: the browser trades the
        grant for its HttpOnly session cookie at POST /api/session."""
        return web_sessions.start(self.Session, session.id, device)

    def session_from_cookie(self, token: Optional[str]):
        """(SurgeonSession, web session id) for a live session cookie, else None."""
        found = web_sessions.surgeon_for(self.Session, token)
        if found is None:
            return None
        try:
            return self.session_for(found[0]), found[1]
        except AuthError:
            return None

    def web_session_live(self, web_session_id: int) -> bool:
        return web_sessions.is_live(self.Session, web_session_id)

    def end_web_session(self, web_session_id: int) -> None:
        """Revoke the browser session server-side (sign-out): its cookie opens nothing afterwards."""
        web_sessions.revoke(self.Session, web_session_id)

    def prune_login_attempts(self, older_than: dt.timedelta = dt.timedelta(days=1)) -> int:
        """Delete attempts that no longer count for rate limiting; returns how many."""
        with self.Session.begin() as db:
            return db.execute(delete(LoginAttempt).where(LoginAttempt.at < utcnow() - older_than)).rowcount

    # -- trusted entry points (no password) -------------------------------------------------
    def session_for(self, surgeon_id: int) -> SurgeonSession:
        """A session for a surgeon this process has already authenticated (e.g. restored from
        Streamlit's session state) or for set-up scripts (the demo account). Never call it with
        an id that came from a request."""
        with self.Session() as db:
            surgeon = db.get(Surgeon, surgeon_id)
            if surgeon is None:
                raise AuthError("This account no longer exists: sign up again.")
            return SurgeonSession(self, SurgeonRecord.of(surgeon))

    def ensure_account(self, email: str, name: str, password: str) -> SurgeonSession:
        """Sign in, or sign up when the account does not exist (the demo account)."""
        email = normalize_email(email)
        with self.Session() as db:
            surgeon_id = db.scalar(select(Surgeon.id).where(Surgeon.email == email))
        if surgeon_id is None:
            return self.sign_up(email, name, password)
        return self.session_for(surgeon_id)

    def dispose(self) -> None:
        self.engine.dispose()
