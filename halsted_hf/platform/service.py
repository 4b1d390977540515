"""`Platform` is the one object a front end creates: it owns the database engine and hands out a
`SurgeonSession` (session.py) per signed-in surgeon; every read and write of a surgeon's data goes
through that object and is filtered by the surgeon's id. Accounts (accounts.py) and browser sessions
(web_sessions.py) are its parts.

    platform = Platform()                       # settings from the environment, schema migrated
    me = platform.sign_up("a@b.org", "A. Surgeon", "a long password")
    me = platform.sign_in("a@b.org", "a long password")
    video = me.upload_video("case12.mp4")
    job = me.enqueue_job(video.id, "suturing")
    me.sign_out()
"""

from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import delete, select

from . import accounts, web_sessions
from .db import init_db, session_factory
from ..core.errors import HalstedError
from .errors import AuthError
from .tables import LoginAttempt, Surgeon, utcnow
from .records import SurgeonRecord
from .session import SurgeonSession
from .settings import Settings


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
        """Create an account and return it signed in (accounts.sign_up)."""
        return accounts.sign_up(self, email, name, password, ip=ip, device=device)

    def sign_in(self, email: str, password: str, ip: Optional[str] = None,
                device: Optional[str] = None) -> SurgeonSession:
        """Check the password and return the surgeon's session (accounts.sign_in, throttled)."""
        return accounts.sign_in(self, email, password, ip=ip, device=device)

    def sign_out(self, session: SurgeonSession) -> None:
        session.sign_out()

    def taxonomy(self):
        """The taxonomy of the model this platform maps with, read from its config once; the Halsted taxonomy
        while that model is a Hub id (or not installed yet: the dashboard says so)."""
        if getattr(self, "_taxonomy", None) is None:
            from ..model.registry import taxonomy_of
            from ..model.taxonomy import HALSTED_TAXONOMY

            try:
                taxonomy = taxonomy_of(self.settings.model)
            except HalstedError:  # not there yet: mapping fails with its own message when it runs
                taxonomy = None
            self._taxonomy = taxonomy or HALSTED_TAXONOMY
        return self._taxonomy

    def mapping_plans(self) -> dict:
        """name -> plan (model/plans.py) of the model this platform maps with."""
        return self.taxonomy().mapping_plans()

    def taxonomy_for(self, timeline):
        """The taxonomy a stored Timeline's tags come from (what a correction may set them to): the platform
        model's when it has every task the Timeline holds, else the Halsted taxonomy's when that has them;
        None when neither does (a result of another model: its categories are not known here)."""
        from ..model.taxonomy import HALSTED_TAXONOMY

        tasks = {s.task for s in timeline.segments}
        for taxonomy in (self.taxonomy(), HALSTED_TAXONOMY):
            if tasks <= set(taxonomy.task_names):
                return taxonomy
        return None

    def mapping_running(self) -> bool:
        """Whether a mapping worker is running now (presence.py): when none is, queued jobs wait (paused)."""
        from . import presence

        return presence.any_alive(self.settings.data_dir)

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
        email = accounts.normalize_email(email)
        with self.Session() as db:
            surgeon_id = db.scalar(select(Surgeon.id).where(Surgeon.email == email))
        if surgeon_id is None:
            return self.sign_up(email, name, password)
        return self.session_for(surgeon_id)

    def dispose(self) -> None:
        self.engine.dispose()
