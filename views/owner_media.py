"""The surgeon's files on the pages, through the owner-only routes of dashboard.py (platform/web.py) rather
than Streamlit's /media/ (not a page: app.py never registers it). Streamlit serves a /media/ file to anyone
who holds its URL; the routes answer only to the owner's session cookie. Under a plain `streamlit run app.py`
(no routes; st.context.url unknown in tests) the pages hand the files to Streamlit as before."""

import os
from urllib.parse import urlsplit

import streamlit as st


def routes() -> bool:
    """Whether dashboard.py's routes serve this page (same origin: relative URLs reach them)."""
    base = urlsplit(st.context.url or "")
    return os.environ.get("HALSTED_DASHBOARD_ROUTES") == "1" and base.scheme in ("http", "https")


def _absolute(path: str) -> str:
    # st.image takes a string without a scheme for a file on the server: give it the whole URL
    base = urlsplit(st.context.url)
    return f"{base.scheme}://{base.netloc}{path}"


def result_url(result_id: int, kind: str) -> str:
    return _absolute(f"/api/results/{int(result_id)}/{kind}")


def thumbnail(video) -> str:
    """What st.image gets for a video's thumbnail: the owner-only URL, or the file."""
    return _absolute(f"/api/videos/{int(video.id)}/thumbnail") if routes() else str(video.thumbnail)


def player(video_id: int, result_id: int, start_s: float, autoplay: bool) -> None:
    """The video with the tags as subtitles, both from the owner-only routes. A new start is a new element (its
    HTML differs) that plays from there; the same start keeps the element, and so where it plays."""
    start = max(0.0, float(start_s))
    st.html(f'<video controls muted playsinline preload="metadata" {"autoplay" if autoplay else ""} '
            f'style="width:100%" src="/api/videos/{int(video_id)}#t={start:.3f}">'
            f'<track kind="subtitles" label="Halsted tags" srclang="en" default '
            f'src="/api/results/{int(result_id)}/vtt"></video>',
            unsafe_allow_javascript=True)  # no user text in it: ids and numbers only; kept as written


def download(column, label: str, result_id: int, kind: str, icon: str) -> None:
    """A link that downloads an export from the owner-only route (which names the file: exports.py)."""
    column.link_button(label, result_url(result_id, kind), icon=icon)
