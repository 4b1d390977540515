"""Sign-in throttling (OWASP ASVS 4.0 V2.2.1): growing delays per client, never a lock of the owner.

A "client" is the browser that tries. One the account signed in from before (its device cookie, see
web_sessions.py) is "device:<hash>"; any other is "ip:<address>" (client_address.py), or "ip:unknown" when the
server sees no address (loopback, a proxy that passes none): those share one count, and the refusal says so.
Failed attempts count against

- the pair (account, client): FREE_PER_PAIR free failures, then a delay that doubles with each failure
  (1 s, 2 s, 4 s ... at most MAX_DELAY) before this client may try this account again;
- the client across all accounts (unknown clients only): FREE_PER_CLIENT free failures, then the same
  doubling, so guesses spread over many e-mails are slowed too;
- the account across unknown clients: at most ACCOUNT_HOURLY_CAP failures an hour (ASVS 2.2.1's 100),
  then unknown clients wait until the oldest failure is an hour old.

The owner's known browsers count only their own failures: someone guessing from elsewhere slows
themself down, not the owner. A refused attempt is not recorded (waiting always helps), and a success
clears the pair's count.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import List, Optional

from sqlalchemy import func, select

from .errors import RateLimitError
from .tables import LoginAttempt

FREE_PER_PAIR = 3
FREE_PER_CLIENT = 10
MAX_DELAY = dt.timedelta(minutes=5)
ACCOUNT_HOURLY_CAP = 100
WINDOW = dt.timedelta(hours=1)
UNKNOWN = "ip:unknown"  # the key of every unknown browser whose address the server cannot see


@dataclass(frozen=True)
class Client:
    """Who is signing in: the address the request came from and, for a browser that signed in to this
    account before, the SHA-256 of its device cookie (set by `Platform.sign_in` when it is trusted)."""

    ip: Optional[str] = None
    device_hash: Optional[str] = None

    def key(self, trusted: bool) -> str:
        if trusted and self.device_hash:
            return f"device:{self.device_hash[:32]}"
        return f"ip:{self.ip[:90]}" if self.ip else UNKNOWN


def counted(client_key: str) -> str:
    """Whose failures a client key counts, in the words of the refusal: a browser, an address, or every browser
    whose address the server does not see (they share one count: it cannot tell them apart)."""
    if client_key.startswith("device:"):
        return "from this browser"
    if client_key == UNKNOWN:
        return ("from browsers whose network address this server cannot see (it counts them together; its "
                "administrator can configure the address, see HALSTED_CLIENT_ADDRESS_HEADER)")
    return "from this network address"


def delay(failures: int, free: int) -> dt.timedelta:
    """How long after the last failure the next attempt must wait: nothing for the first `free`
    failures, then 1 s, doubling per failure, at most MAX_DELAY."""
    if failures < free:
        return dt.timedelta(0)
    return min(MAX_DELAY, dt.timedelta(seconds=2 ** min(failures - free, 20)))


def _failures(db, *conditions, since: dt.datetime) -> List[dt.datetime]:
    return list(db.scalars(select(LoginAttempt.at).where(LoginAttempt.success.is_(False), LoginAttempt.at > since,
                                                          *conditions).order_by(LoginAttempt.at)))


def check(db, email: str, client_key: str, trusted: bool, now: dt.datetime) -> None:
    """Raise RateLimitError when `client_key` must wait before trying `email` again."""
    since = now - WINDOW
    last_ok = db.scalar(select(func.max(LoginAttempt.at)).where(
        LoginAttempt.email == email, LoginAttempt.client == client_key, LoginAttempt.success.is_(True)))
    pair = _failures(db, LoginAttempt.email == email, LoginAttempt.client == client_key,
                     since=max(since, last_ok) if last_ok else since)
    waits = []
    if pair:
        waits.append((pair[-1] + delay(len(pair), FREE_PER_PAIR) - now, f"{counted(client_key)} for this account"))
    if not trusted:
        spread = _failures(db, LoginAttempt.client == client_key, since=since)
        if spread:
            waits.append((spread[-1] + delay(len(spread), FREE_PER_CLIENT) - now, counted(client_key)))
        account = _failures(db, LoginAttempt.email == email, LoginAttempt.client.like("ip:%"), since=since)
        if len(account) >= ACCOUNT_HOURLY_CAP:
            oldest = account[len(account) - ACCOUNT_HOURLY_CAP]
            waits.append((oldest + WINDOW - now, "for this account from browsers it has not used before "
                                                 "(a browser you signed in with before is not held up)"))
    wait, why = max(waits, default=(dt.timedelta(0), ""), key=lambda w: w[0])
    if wait > dt.timedelta(0):
        seconds = wait.total_seconds()
        when = f"{math.ceil(seconds)} second" if seconds < 90 else f"{math.ceil(seconds / 60)} minute"
        plural = "" if when.startswith("1 ") else "s"
        raise RateLimitError(f"Too many failed sign-ins {why}: try again in {when}{plural}.",
                             retry_after_s=seconds)
