"""Browser sessions that survive a reload (OWASP ASVS 4.0 V3), kept server-side.

1. The page that checked the password calls `start(...)`: a `web_sessions` row with a one-time
   grant (256 random bits, valid GRANT_TTL, only its SHA-256 stored) for that surgeon.
2. The page hands the grant to the browser, whose script POSTs it to /api/session (web.py); `claim`
   turns it into the session token, set as an HttpOnly, SameSite=Strict cookie. Tokens never appear
   in a URL, and the database holds only their SHA-256, so a copy of it opens no session.
3. Every later page load (a reload, a deep link) reads the cookie: `surgeon_for` gives the surgeon
   while the row is neither revoked nor past `expires_at` (SESSION_TTL after sign-in, ASVS 3.3.2).
4. Sign-out calls `revoke`: from then on the cookie opens nothing, whatever the browser keeps.

The long-lived device cookie (a random id, HttpOnly) tells throttle.py which browsers the account
signed in from before; it grants nothing by itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Optional, Tuple

from sqlalchemy import and_, delete, or_, select, update

from .tables import Surgeon, WebSession, utcnow

SESSION_COOKIE = "halsted_session"
DEVICE_COOKIE = "halsted_device"
SESSION_TTL = dt.timedelta(hours=12)
GRANT_TTL = dt.timedelta(minutes=2)
DEVICE_TTL = dt.timedelta(days=365)
TRUSTED_FOR = dt.timedelta(days=90)  # a browser counts as the owner's this long after a sign-in


def digest(secret: Optional[str]) -> Optional[str]:
    return hashlib.sha256(secret.encode()).hexdigest() if isinstance(secret, str) and secret else None


def start(Session, surgeon_id: int, device: Optional[str]) -> Tuple[int, str]:
    """A new session for a surgeon whose password was just checked; returns (its id, the grant)."""
    grant, now = secrets.token_urlsafe(32), utcnow()
    with Session.begin() as db:
        prune(db, now)
        row = WebSession(surgeon_id=surgeon_id, grant_hash=digest(grant), grant_expires_at=now + GRANT_TTL,
                         device_hash=digest(device), created_at=now, expires_at=now + SESSION_TTL)
        db.add(row)
        db.flush()
        return row.id, grant


def prune(db, now: dt.datetime) -> int:
    """Delete rows that can no longer matter: grants never claimed whose time is up, and sessions older than
    TRUSTED_FOR (expired long ago, and too old to mark their browser as the owner's). Run at every sign-in, so
    the table stays the size of the last 90 days' sign-ins."""
    gone = db.execute(delete(WebSession).where(or_(
        and_(WebSession.token_hash.is_(None), WebSession.grant_expires_at <= now),
        WebSession.created_at <= now - TRUSTED_FOR)))
    return gone.rowcount


def claim(Session, grant: str, device: Optional[str]) -> Optional[Tuple[str, str, int]]:
    """Trade a grant for (session token, device id, cookie max-age in s); None when the grant is
    unknown, used or expired. The browser keeps its device id, or gets one."""
    now = utcnow()
    device = device if device and len(device) <= 100 else secrets.token_urlsafe(32)
    token = secrets.token_urlsafe(32)
    with Session.begin() as db:
        # One guarded UPDATE: two requests racing with the same grant cannot both win.
        done = db.execute(update(WebSession).where(
            WebSession.grant_hash == digest(grant), WebSession.grant_expires_at > now,
            WebSession.revoked_at.is_(None), WebSession.token_hash.is_(None),
        ).values(token_hash=digest(token), grant_hash=None, device_hash=digest(device)))
        if done.rowcount != 1:
            return None
        expires = db.scalar(select(WebSession.expires_at).where(WebSession.token_hash == digest(token)))
    return token, device, max(1, int((expires - now).total_seconds()))


def surgeon_for(Session, token: Optional[str]) -> Optional[Tuple[int, int]]:
    """(surgeon id, session id) for a live session token, else None."""
    if not token or len(token) > 100:
        return None
    with Session() as db:
        row = db.scalar(select(WebSession).where(WebSession.token_hash == digest(token)))
        if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
            return None
        return row.surgeon_id, row.id


def is_live(Session, session_id: int) -> bool:
    """Whether the session is neither revoked (a sign-out, in any tab) nor expired."""
    with Session() as db:
        row = db.get(WebSession, session_id)
        return row is not None and row.revoked_at is None and row.expires_at > utcnow()


def revoke(Session, session_id: int) -> None:
    with Session.begin() as db:
        db.execute(update(WebSession).where(WebSession.id == session_id, WebSession.revoked_at.is_(None))
                   .values(revoked_at=utcnow()))


def is_trusted(db, email: str, device: Optional[str], now: dt.datetime) -> bool:
    """Whether this browser (its device cookie) signed in to the account within TRUSTED_FOR."""
    if not device:
        return False
    return db.scalar(select(WebSession.id).join(Surgeon, Surgeon.id == WebSession.surgeon_id).where(
        Surgeon.email == email, WebSession.device_hash == digest(device), WebSession.token_hash.is_not(None),
        WebSession.created_at > now - TRUSTED_FOR).limit(1)) is not None
