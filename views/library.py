"""Library: every upload with thumbnail, duration, date, procedure and job status; upload, sort,
filter, delete (rows from platform.analytics.library_rows)."""

import streamlit as st
from views import owner_media, uploader
from views.deid_marks import deid_setting_note, removed_line
from views.markup import md
from views.wording import quantity
from views.session_guard import signed_in_surgeon

from halsted_hf.core.errors import HalstedError
from halsted_hf.mapping.headline import OUT_OF_DISTRIBUTION
from halsted_hf.mapping.reliability import NOT_RELIABLE
from halsted_hf.platform import uploads
from halsted_hf.platform.analytics import LIBRARY_SORTS, NOT_MAPPED

me = signed_in_surgeon()
st.title("Library")

# -- upload ----------------------------------------------------------------------------------
# Every file type is accepted here on purpose: the platform reads the upload and refuses what is not a video
# with a message that says so (a browser-side filter would only check the name).
if owner_media.routes():  # to disk as it arrives (views/uploader.py), not into the server's memory
    uploader.show(me.platform.settings)
    deid_setting_note(me.platform.settings)
    for kind, line in uploads.notices.take(me.id):
        getattr(st, kind)(md(line))
else:
    files = st.file_uploader("Upload operative videos", accept_multiple_files=True, key="uploader",
                             help=uploader.HELP.format(limit=me.platform.settings.max_upload_text))
    deid_setting_note(me.platform.settings)
    done = st.session_state.setdefault("uploaded_file_ids", {})
    for f in files or []:
        if f.file_id in done:  # the uploader keeps its files across reruns: store each once
            continue
        try:
            with st.spinner(f"Storing {md(f.name)}..."):
                done[f.file_id] = uploads.outcome(f.name, video=me.upload_video(f, f.name))
        except HalstedError as err:
            done[f.file_id] = uploads.outcome(f.name, error=err)
    for f in files or []:
        kind, message = done.get(f.file_id, ("info", ""))
        getattr(st, kind)(md(message))

# -- sort and filter -------------------------------------------------------------------------
all_rows = me.library()
procedures = sorted({r.video.procedure for r in all_rows if r.video.procedure})
statuses = sorted({r.status for r in all_rows})
c = st.columns([2, 1, 2, 2, 2])
sort = c[0].selectbox("Sort by", LIBRARY_SORTS, key="lib_sort",
                      format_func=lambda s: {"uploaded_at": "upload date"}.get(s, s))
descending = c[1].toggle("Descending", value=True, key="lib_desc")
procedure = c[2].selectbox("Procedure", ["all"] + procedures, key="lib_procedure")
status = c[3].selectbox("Status", ["all"] + statuses, key="lib_status")
search = c[4].text_input("File name contains", key="lib_search")
rows = me.library(sort=sort, descending=descending, procedure=None if procedure == "all" else procedure,
                  status=None if status == "all" else status, search=search or None)

if not all_rows:
    st.info("No videos yet: upload one above.")
    st.stop()
st.caption(f"{len(rows)} of {quantity(len(all_rows), 'video')}")

for row in rows:
    v = row.video
    with st.container(border=True, key=f"video_{v.id}"):
        cols = st.columns([1.2, 3, 2, 2])
        if v.thumbnail and v.thumbnail.exists():
            cols[0].image(owner_media.thumbnail(v), width="stretch")  # owner-only under halsted serve
        else:
            cols[0].caption("no thumbnail")
        minutes, seconds = divmod(int(round(v.duration_s)), 60)
        cols[1].markdown(f"**{md(v.original_filename)}**  \n{minutes}:{seconds:02d} · {v.width}x{v.height} · "
                         f"uploaded {v.uploaded_at:%Y-%m-%d %H:%M} UTC")
        unsure = "" if row.procedure_reliable else f" ({NOT_RELIABLE}: {md(row.procedure_reason)})"
        cols[1].markdown(f"Procedure: **{md(v.procedure or NOT_MAPPED)}**{unsure}")
        cols[1].caption(removed_line(v))  # our own words and times: no user text in it
        if row.ood_warning:  # the latest result's out-of-distribution check (halsted_hf/mapping/ood.py)
            label = f"**{OUT_OF_DISTRIBUTION}**, left out of Summary's totals. " if row.out_of_distribution else ""
            cols[1].warning(label + md(row.ood_warning), icon=":material/help:")
        label = row.status if row.status != "running" else f"running ({row.progress:.0%})"
        cols[2].markdown(f"Job status: **{label}**")
        if row.mappings_done:
            cols[2].caption("Mapped: " + ", ".join(row.mappings_done))
        if cols[3].button("Map", key=f"map_{v.id}", icon=":material/play_arrow:"):
            st.session_state["map_video_id"] = v.id
            st.switch_page("views/map.py")
        if row.latest_result_id and cols[3].button("Review", key=f"review_{v.id}", icon=":material/insights:"):
            st.session_state["review_result_id"] = row.latest_result_id
            st.switch_page("views/review.py")
        with cols[3].popover("Delete", icon=":material/delete:"):
            st.markdown(f"Delete {md(v.original_filename)} with its jobs and results? This cannot be undone.")
            if st.button("Delete for good", key=f"delete_{v.id}", type="primary"):
                me.delete_video(v.id)
                st.rerun()
