"""Map: pick a video and a mapping, enqueue a job (the worker process runs it), follow its
progress live; cancel, or retry a failed job."""

import streamlit as st
from views.markup import md
from views.wording import quantity
from views.session_guard import signed_in_surgeon

from halsted_hf.core.errors import HalstedError

me = signed_in_surgeon()
# The model's mapping plans with a detailed stage (the Halsted model's: not "procedure" alone), else all of them.
PLANS = me.platform.mapping_plans()
MAPPINGS = {name: plan.description for name, plan in PLANS.items() if plan.has_stage2} or {
    name: plan.description for name, plan in PLANS.items()}
st.title("Map a video")

videos = me.list_videos()
if not videos:
    st.info("Your library is empty: upload a video on the Library page first.")
    st.page_link("views/library.py", label="Go to the Library", icon=":material/upload:")
    st.stop()

by_id = {v.id: v for v in videos}
wanted = st.session_state.get("map_video_id")
video_id = st.selectbox("Video", list(by_id), index=list(by_id).index(wanted) if wanted in by_id else 0,
                        format_func=lambda i: f"{by_id[i].original_filename} ({by_id[i].duration_s:.0f} s)",
                        key="map_video")
st.session_state["map_video_id"] = video_id

cols = st.columns(len(MAPPINGS))
for col, (mapping, help_text) in zip(cols, MAPPINGS.items()):
    if col.button(f"Map {mapping}", key=f"enqueue_{mapping}", help=help_text, type="primary", width="stretch"):
        try:
            job = me.enqueue_job(video_id, mapping)
            st.toast(f"Job {job.id} queued: a worker maps it in the background.")
        except HalstedError as err:
            st.error(md(err))


PAUSED = ("Mapping is paused: the mapping service is not running at the moment. This job waits in the queue "
          "and starts again by itself when the service is back; nothing you uploaded is lost.")


def _job_row(job, paused: bool) -> None:
    with st.container(border=True, key=f"job_{job.id}"):
        head = st.columns([3, 1])
        head[0].markdown(f"**{job.mapping}** mapping · job {job.id} · **{job.status}**"
                         + (" (cancelling...)" if job.cancel_requested and job.active else ""))
        if job.active and paused:
            st.warning(PAUSED, icon=":material/pause_circle:")
        elif job.status == "queued":
            st.caption("Queued: mapping starts when the jobs before it are done.")
        if job.status == "running":
            done, total = job.progress_done, job.progress_total
            st.progress(job.fraction, text=f"{done} of {quantity(total, 'window')}" if total else "starting...")
        if job.status == "failed":
            st.error(md(job.error or "The job failed without a message: retry it."))  # may quote a file name
        if job.active and not job.cancel_requested:
            if head[1].button("Cancel", key=f"cancel_{job.id}", icon=":material/stop:"):
                me.cancel_job(job.id)
                st.rerun(scope="fragment")
        if job.status in ("failed", "cancelled"):
            if head[1].button("Retry", key=f"retry_{job.id}", icon=":material/refresh:"):
                me.retry_job(job.id)
                st.rerun()  # a full run: polling starts again for the re-queued job
        if job.status == "done":
            result = me.latest_result(job.video_id, job.mapping)
            if result is not None and head[1].button("Review", key=f"review_job_{job.id}", icon=":material/insights:"):
                st.session_state["review_result_id"] = result.id
                st.switch_page("views/review.py")


def job_rows(video_id: int, polling: bool) -> None:
    jobs = me.list_jobs(video_id)
    st.subheader("Jobs for this video")
    if not jobs:
        st.caption("No jobs yet: pick a mapping above.")
    paused = any(job.active for job in jobs[:10]) and not me.platform.mapping_running()
    for job in jobs[:10]:
        _job_row(job, paused)
    if polling and not any(job.active for job in jobs[:10]):
        # Every job has finished: one full run draws the panel without its timer. A timer left running
        # fires during the next page's run (Review, after a click here) and can leave that page blank.
        st.rerun()


def jobs_panel(video_id: int) -> None:
    """The job rows; while a job is queued or running they redraw every 2 s (the worker writes progress
    into the database), as a fragment so that only they rerun."""
    polling = any(job.active for job in me.list_jobs(video_id)[:10])
    st.fragment(job_rows, run_every=2 if polling else None)(video_id, polling)


jobs_panel(video_id)
