"""The one way a page gets its signed-in surgeon (not a page itself: app.py never registers it)."""

import streamlit as st
from streamlit.errors import StreamlitAPIException


def signed_in_surgeon():
    """The SurgeonSession app.py put in st.session_state; a page reached any other way shows nothing.

    Only app.py signs surgeons in, and every read and write of a page goes through this scoped session.
    """
    me = st.session_state.get("me")
    if me is None or not me.signed_in:
        try:
            st.switch_page("app.py")
        except StreamlitAPIException:  # app.py is not a page once st.navigation took over
            pass
        st.stop()
    return me
