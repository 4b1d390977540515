"""Halsted dashboard: the Streamlit entry point (`streamlit run app.py`, or `halsted serve`).

Signed out, only the account page (sign in, create an account) exists; signed in, Summary, Library, Map and
Review. The signed-in surgeon is kept as an id in st.session_state; every page reaches data only
through the `SurgeonSession` put in `st.session_state["me"]` (halsted_hf.platform), which is
scoped to that surgeon.

A sign-in also starts a server-side browser session (halsted_hf/platform/web_sessions.py): the page
hands its one-time grant to the browser, whose script trades it at POST /api/session for an HttpOnly
cookie (dashboard.py serves that route). A reload or a deep link opens a new Streamlit session, which
finds the surgeon through that cookie; sign-out revokes it server-side.
"""

from __future__ import annotations

import os

import streamlit as st

from views.markup import md

from halsted_hf.core.errors import HalstedError
from halsted_hf.platform import Platform, Settings
from halsted_hf.platform.client_address import client_address
from halsted_hf.platform.web_sessions import DEVICE_COOKIE, SESSION_COOKIE

st.set_page_config(page_title="Halsted", page_icon=":material/content_cut:", layout="wide")


@st.cache_resource(show_spinner=False)
def _platform(data_dir, database_url, model, space) -> Platform:
    # One Platform (engine, connection pool) per configuration and server process; the arguments
    # are only the cache key, so tests that change the environment get their own.
    return Platform(Settings.from_env())


def platform() -> Platform:
    env = os.environ
    return _platform(env.get("HALSTED_DATA_DIR"), env.get("HALSTED_DATABASE_URL"),
                     env.get("HALSTED_MODEL"), env.get("HALSTED_SPACE"))


def _cookie(name: str):
    value = st.context.cookies.get(name)
    return value if isinstance(value, str) else None  # (AppTest has no browser: no cookies)


def _client() -> dict:
    """Who is signing in, for throttling: the browser's address (from the configured proxy header, else the
    connection's; client_address.py) and its device cookie."""
    headers = st.context.headers
    ip = client_address(dict(headers) if headers else {}, st.context.ip_address,
                        platform().settings.client_address_header)
    return {"ip": ip, "device": _cookie(DEVICE_COOKIE)}


def _signed_in(session) -> None:
    st.session_state["surgeon_id"] = session.id
    st.session_state.pop("me", None)
    st.session_state.pop("signed_out", None)
    web_session_id, grant = platform().start_web_session(session, _cookie(DEVICE_COOKIE))
    st.session_state["web_session_id"] = web_session_id
    st.session_state["session_grant"] = grant  # handed to the browser once, on the next run


def _browser_call(path: str, body: str = "") -> None:
    """POST to one of dashboard.py's routes from the browser (cookies can only be set by a response to
    it). The body is a one-time grant at most, never a password; it never goes into a URL."""
    st.html(f"<script>fetch({path!r}, {{method: 'POST', credentials: 'same-origin', body: {body!r}}});</script>",
            unsafe_allow_javascript=True, width="content")


def sign_in_form() -> None:
    with st.form("sign-in"):
        email = st.text_input("E-mail", key="signin_email")
        password = st.text_input("Password", type="password", key="signin_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            _signed_in(platform().sign_in(email, password, **_client()))
        except HalstedError as err:  # wrong credentials, rate limit: the message says what to do
            st.error(md(err))  # the message may quote what was typed
        else:
            st.rerun()


def sign_up_form() -> None:
    with st.form("sign-up"):
        name = st.text_input("Name", key="signup_name")
        email = st.text_input("E-mail", key="signup_email")
        password = st.text_input("Password (at least 10 characters)", type="password", key="signup_password")
        submitted = st.form_submit_button("Create account", type="primary")
    if submitted:
        try:
            _signed_in(platform().sign_up(email, name, password, **_client()))
        except HalstedError as err:  # bad e-mail, short password, an e-mail that has an account (never opened here)
            st.error(md(err))  # the message may quote what was typed
        else:
            st.rerun()


def account_page() -> None:
    st.title("Halsted")
    st.caption("Map surgery from video: sign in to see your library, mapping jobs and results.")
    left, _ = st.columns([1, 1])
    with left:
        sign_in, sign_up = st.tabs(["Sign in", "Create an account"])
        with sign_in:
            sign_in_form()
        with sign_up:
            sign_up_form()
        hint = os.environ.get("HALSTED_DEMO_HINT")  # set by `halsted serve`: the demo credentials
        if hint:
            st.info(hint)


def sign_out() -> None:
    me = st.session_state.pop("me", None)
    if me is not None:
        me.sign_out()
    web_session_id = st.session_state.get("web_session_id")
    if web_session_id is not None:
        platform().end_web_session(web_session_id)  # server-side: the cookie opens nothing any more
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    st.session_state["signed_out"] = True  # this Streamlit session still holds the old cookie: ignore it
    st.session_state["clear_cookie"] = True


def _from_cookie() -> None:
    """A new Streamlit session (a reload, a deep link) of a browser with a live session cookie."""
    if st.session_state.get("signed_out"):
        return
    found = platform().session_from_cookie(_cookie(SESSION_COOKIE))
    if found is not None:
        me, web_session_id = found
        st.session_state.update(surgeon_id=me.id, me=me, web_session_id=web_session_id)


def current_session():
    """The signed-in surgeon's SurgeonSession, or None (also when the account was deleted, or its browser
    session was signed out in another tab or expired)."""
    if st.session_state.get("surgeon_id") is None:
        _from_cookie()
    web_session_id = st.session_state.get("web_session_id")
    if web_session_id is not None and not platform().web_session_live(web_session_id):
        sign_out()
        return None
    surgeon_id = st.session_state.get("surgeon_id")
    if surgeon_id is None:
        return None
    me = st.session_state.get("me")
    if me is None or not me.signed_in or me.id != surgeon_id:
        try:
            me = platform().session_for(surgeon_id)
        except HalstedError:
            st.session_state.pop("surgeon_id", None)
            return None
        st.session_state["me"] = me
    return me


me = current_session()
if me is None:
    # A signed-out link to a page (/review?result=7) shows the sign-in form at that address, with its query,
    # instead of "Page not found"; once signed in, the same address is that page (pages are keyed by path).
    pages = [st.Page(account_page, title="Sign in", icon=":material/login:", url_path=path or "signin",
                     default=not path) for path in ("", "summary", "library", "map", "review")]
    if st.session_state.pop("clear_cookie", False):
        _browser_call("/api/session/end")
else:
    pages = [
        st.Page("views/summary.py", title="Summary", icon=":material/dashboard:", default=True),
        st.Page("views/library.py", title="Library", icon=":material/video_library:"),
        st.Page("views/map.py", title="Map", icon=":material/play_circle:"),
        st.Page("views/review.py", title="Review", icon=":material/insights:"),
    ]
    with st.sidebar:
        st.markdown(f"**{md(me.surgeon.name)}**  \n{md(me.surgeon.email)}")
        st.button("Sign out", on_click=sign_out, icon=":material/logout:", key="signout")
        grant = st.session_state.pop("session_grant", None)
        if grant:
            _browser_call("/api/session", grant)

st.navigation(pages, position="hidden" if me is None else "sidebar").run()
