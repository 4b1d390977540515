"""Streamlit AppTest helpers shared by the page tests (test_app_pages.py, test_app_corrections.py,
test_ood.py): the app signed in as a surgeon on a page, and the page's text as a surgeon reads it.
Not a test module."""

from __future__ import annotations

import os
import re

from helpers import make_timeline, seg

APP = os.path.join(os.path.dirname(__file__), "..", "app.py")
TIMEOUT = 60  # first runs import plotly and pandas on a loaded 2-core machine


def app_as(surgeon=None, page=None):
    """The app, signed in as `surgeon` (a SurgeonSession) when given, on `page` (views/x.py)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if surgeon is not None:
        at.session_state["surgeon_id"] = surgeon.id
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    assert not at.exception, [e.message for e in at.exception]
    return at


def texts(at) -> str:
    """Everything the page wrote as text, in one string, to search for numbers and messages (as the
    surgeon reads it: Markdown escapes of user text removed)."""
    parts = [e.value for e in at.markdown] + [e.value for e in at.caption] + [e.value for e in at.title]
    parts += [e.value for kind in ("error", "info", "success", "warning") for e in getattr(at, kind)]
    parts += [f"{m.label}={m.value}" for m in at.metric]
    return unescape("\n".join(str(p) for p in parts))


def unescape(markdown: str) -> str:
    """The text a reader sees: backslash escapes resolved, views/markup.py's invisible word joiners gone."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown).replace("\u2060", "")


def full_timeline(duration_s=3.0):
    """Suturing (2 stitches: high, low) in the first 1.8 s, then dissection with known times."""
    tl = make_timeline(duration_s=duration_s, workflow="full")
    tl.segments += [
        seg(1.8, 2.4, 2, "micro-activity",
            {"action": "cut", "instrument": "monopolar curved scissors", "arm": "right"}),
        seg(2.4, 3.0, 2, "micro-activity", {"action": "retract", "instrument": "cadiere forceps", "arm": "left"}),
    ]
    return tl
