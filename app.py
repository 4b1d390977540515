"""Halsted dashboard: the Streamlit entry point (`streamlit run app.py`, or `halsted serve`).

Signed out, only the account page (sign in, create an account) exists; signed in, Summary, Library, Map and
Review. The signed-in surgeon is kept as an id in st.session_state; every page reaches data only
through the `SurgeonSession` put in `st.session_state["me"]` (halsted_hf.platform), which is
scoped to that surgeon.
"""

from __future__ import annotations

import os

import streamlit as st

from views.markup import md

from halsted_hf.errors import HalstedError
from halsted_hf.platform import Platform, Settings

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


def _signed_in(session) -> None:
    st.session_state["surgeon_id"] = session.id
    st.session_state.pop("me", None)


def sign_in_form() -> None:
    with st.form("sign-in"):
        email = st.text_input("E-mail", key="signin_email")
        password = st.text_input("Password", type="password", key="signin_password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            _signed_in(platform().sign_in(email, password))
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
            _signed_in(platform().sign_up(email, name, password))
        except HalstedError as err:  # bad e-mail, short password, existing account
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
    for key in list(st.session_state.keys()):
        del st.session_state[key]


def current_session():
    """The signed-in surgeon's SurgeonSession, or None (also when the account was deleted)."""
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
    pages = [st.Page(account_page, title="Sign in", icon=":material/login:", url_path="signin", default=True)]
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

st.navigation(pages).run()
