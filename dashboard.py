"""The dashboard server: Streamlit's app.py plus the routes Streamlit cannot provide (session cookies,
owner-only files, uploads to disk: halsted_hf/platform/web.py). `halsted serve` runs `streamlit run dashboard.py`;
`streamlit run app.py` still works, without surviving reloads or guarded media."""

import os

import streamlit as st
from starlette.middleware import Middleware

from halsted_hf.platform.web import MediaNeedsSession, routes

os.environ["HALSTED_DASHBOARD_ROUTES"] = "1"  # tells app.py (same process) that these routes exist
app = st.App("app.py", routes=routes, middleware=[Middleware(MediaNeedsSession)])
