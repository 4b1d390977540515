"""What de-identification removed, as the Library and Review pages show it (the stored copy's report,
halsted_hf/platform/deid_upload.py). A helper, not a page."""

from __future__ import annotations

import streamlit as st

REMOVED_FILL = "rgba(20,20,20,0.55)"


def deid_setting_note(settings) -> None:
    """The deployment's setting, stated where uploads happen."""
    if settings.deidentify:
        st.caption("De-identification is on: each upload's out-of-body stretches, faces, metadata and audio are "
                   "removed before it is stored; only the de-identified copy is kept.")
    else:
        st.warning("De-identification is off on this deployment (HALSTED_DEIDENTIFY=0): uploads are stored as "
                   "they are, with any faces, metadata and audio they carry.", icon=":material/visibility:")


def removed_line(video) -> str:
    """One line for a video: what was removed, or that it was stored as uploaded."""
    report = video.deidentification
    return f"De-identified: {report.summary()}" if report is not None else "Stored as uploaded (not de-identified)"


def mark_removed(figure, video) -> None:
    """Shade, on the timeline figure, the stretches whose picture was removed (nothing is mapped there)."""
    report = video.deidentification
    for a, b in (report.removed_stretches if report is not None else ()):
        figure.add_vrect(x0=a, x1=b, fillcolor=REMOVED_FILL, line_width=0, layer="above",
                         annotation_text="removed: out of body", annotation_position="top left",
                         annotation_font_color="white")


def removed_note(video) -> None:
    if video.deidentification is not None:
        st.caption(removed_line(video))  # our own words and times: no user text in it
