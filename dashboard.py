"""The dashboard server: Streamlit's app.py plus the routes Streamlit cannot provide (session cookies,
owner-only files, uploads to disk: halsted_hf/platform/web.py). `halsted serve` runs `streamlit run dashboard.py`;
`streamlit run app.py` still works, without surviving reloads or guarded media."""

import os

import pandas  # noqa: F401 - loaded whole before any page runs: plotly looks pandas up in sys.modules without
# importing it, and a page drawing a chart while another session's thread is still importing pandas got a
# half-initialised module ("partially initialized module 'pandas' has no attribute 'Series'")
import streamlit as st
from starlette.middleware import Middleware

from halsted_hf.platform.web import MediaNeedsSession, routes

os.environ["HALSTED_DASHBOARD_ROUTES"] = "1"  # tells app.py (same process) that these routes exist
app = st.App("app.py", routes=routes, middleware=[Middleware(MediaNeedsSession)])
