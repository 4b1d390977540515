"""Which result the Review page shows, kept in its URL (`/review?result=ID`), so a reload, a bookmark or a
link sent to oneself opens that result (not a page: app.py never registers it). A link to a result that is
not the surgeon's reads exactly like one to a result that does not exist (session.py)."""

import streamlit as st

PARAM = "result"
WIDGET = "review_result"  # the page's Result selectbox
HANDED = "review_result_id"  # set by other pages' "Review" buttons before they switch here
SHOWN = "review_shown"  # what this page showed last
IN_URL = "review_url"  # what this page last wrote into the URL


def _from_url():
    raw = st.query_params.get(PARAM)
    if not raw:
        return None
    return int(raw) if raw.isdigit() and len(raw) <= 18 else -1  # -1: a link naming no result id


def choose(by_id: dict) -> None:
    """Before the Result selectbox: put the result to show into its state. A URL the page did not write itself
    (a reload, a deep link, a bookmark) wins, then a change in the selectbox, then another page's hand-off."""
    url = _from_url()
    widget, shown = st.session_state.get(WIDGET), st.session_state.get(SHOWN)
    if url is not None and url != st.session_state.get(IN_URL):
        wanted = url
    elif widget is not None and widget != shown:
        wanted = widget
    else:
        wanted = st.session_state.get(HANDED, shown)
    if wanted not in by_id:
        if wanted == url and url is not None:
            named = f"Result {url}" if url >= 0 else "The link's result"
            st.warning(f"{named} is not one of your results: showing your newest result instead.")
        wanted = next(iter(by_id))
    st.session_state[WIDGET] = wanted


def remember(result_id: int) -> None:
    """After the selectbox: the result shown goes into the URL (and the session, for the other pages)."""
    st.session_state[SHOWN] = st.session_state[HANDED] = st.session_state[IN_URL] = result_id
    if st.query_params.get(PARAM) != str(result_id):
        st.query_params[PARAM] = str(result_id)
