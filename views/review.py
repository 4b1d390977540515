"""Review: the breakdown of one result (numbers from Timeline summaries via platform.analytics),
an interactive timeline beside the video (click a segment: the video plays from there), the
tags as subtitles, an overlay video and CSV / JSON export."""

import streamlit as st
from views import owner_media, result_link
from views.corrections import corrected_note, correction_panel, mark_corrected
from views.deid_marks import mark_removed, removed_note
from views.markup import md
from views.model_card import card_of, show_card
from views.session_guard import signed_in_surgeon
from views.trust_marks import headline_metric, ood_banner, reasons, title, unreliable_note
from views.wording import quantity

from halsted_hf.core.errors import HalstedError
from halsted_hf.mapping.headline import procedure_header
from halsted_hf.mapping.reliability import NOT_RELIABLE, of_timeline
from halsted_hf.core.clock import clock_precise
from halsted_hf.plots import TIMELINE_CAPTION, share_figure, timeline_figure
from halsted_hf.platform import exports
from halsted_hf.platform.storage import browser_playable

me = signed_in_surgeon()
st.title("Review")

results = me.list_results()
if not results:
    st.info("No results yet: map a video on the Map page; its breakdown appears here when the job is done.")
    st.page_link("views/map.py", label="Go to the Map page", icon=":material/play_circle:")
    st.stop()

names = {v.id: v.original_filename for v in me.list_videos()}
by_id = {r.id: r for r in results}
result_link.choose(by_id)  # the URL's result (?result=ID), a choice in the box, or another page's hand-off
result_id = st.selectbox(
    "Result", list(by_id), key=result_link.WIDGET,
    format_func=lambda i: (f"{names.get(by_id[i].video_id, '?')} · {by_id[i].mapping} · "
                           f"{by_id[i].created_at:%Y-%m-%d %H:%M}"))
result_link.remember(result_id)
rv = me.review(result_id)
show_card(card_of(me.platform, rv.timeline.model), key=f"model_card_{result_id}")
ood_banner(rv.timeline)  # out-of-distribution check (halsted_hf/mapping/ood.py), read from the stored timeline
rel = of_timeline(rv.timeline)  # the model card's record of which tags are reliable, as the result stored it
unreliable_note(rel, key=f"unreliable_{result_id}")


# -- breakdown -------------------------------------------------------------------------------
corrected_note(rv)
if procedure_header(rv.procedure):  # the majority procedure with its share, or "mixed"
    unsure = "" if rel.is_reliable("procedure") else f" ({NOT_RELIABLE}: {md(rel.reason('procedure'))})"
    st.markdown(f"**{md(procedure_header(rv.procedure))}**{unsure} "
                f"({md(rv.procedure.get('specialty') or 'specialty not known')}) · "
                f"{clock_precise(rv.procedure['duration_s'])} of video")
def share_column(col, tag: str, shares: dict, heading: str, key: str) -> None:
    """One tag's time shares in a column: a chart, or a sentence when nothing was mapped; its reliability."""
    fig = share_figure(shares, title(rel, tag, heading), "%") if shares else None
    if fig is None:
        col.markdown(f"**{title(rel, tag, heading)}**")
        col.caption(f"No {tag} was mapped in this video.")
    else:
        col.plotly_chart(fig, key=key)
    if not rel.is_reliable(tag):
        col.caption(md(reasons(rel, [tag])))


if rv.suturing is not None:
    s = rv.suturing
    st.subheader("Suturing")
    c = st.columns(4)
    headline_metric(c[0], "Stitches", s["stitches"], ["phase"], rel)
    headline_metric(c[1], "High proficiency", "–" if s["high_proficiency_share"] is None else
                    f"{s['high_proficiency_share']:.0%}", ["phase", "proficiency"], rel,
                    help=f"{s['high_proficiency_stitches']} of "
                         f"{quantity(s['stitches_with_proficiency'], 'rated stitch', 'rated stitches')}")
    c[2].metric(title(rel, "phase", "Suturing time"), clock_precise(s["suturing_time_s"]),
                help=reasons(rel, ["phase"]))
    headline_metric(c[3], "Rated stitches", s["stitches_with_proficiency"], ["phase", "proficiency"], rel)
    c = st.columns(3)
    phase_fig = share_figure(s["phase_time_s"], title(rel, "phase", "Time per phase"), "s")
    if phase_fig is None:  # a bare -1..1 axis says nothing: say it in words
        c[0].markdown("**Time per phase**")
        c[0].caption("No suturing phase was mapped in this video, so there is no time per phase.")
    else:
        c[0].plotly_chart(phase_fig, key="phase_chart")
    for col, tag, heading in ((c[1], "anatomy", "Anatomy targets"), (c[2], "direction", "Directions")):
        col.markdown(f"**{title(rel, tag, heading)}**")
        if not rel.is_reliable(tag):
            col.caption(md(reasons(rel, [tag])))
        if s[tag]:
            col.dataframe({tag: list(s[tag]), "stitches": [v["stitches"] for v in s[tag].values()],
                           "time (s)": [round(v["time_s"], 1) for v in s[tag].values()]},
                          hide_index=True, key=f"{tag}_table")
        else:
            col.caption("none mapped")
if rv.dissection is not None:
    d = rv.dissection
    st.subheader("Dissection")
    st.metric("Dissection time", clock_precise(d["dissection_time_s"]))
    c = st.columns(3)
    for col, tag in zip(c, ("action", "instrument", "arm")):
        share_column(col, tag, d["share"][tag], f"Time share of {tag}s", key=f"{tag}_chart")

if rv.breakdown:  # the tasks of any other taxonomy (CholecT50: phase, instrument, verb, target)
    st.subheader("Breakdown")
    tags = list(rv.breakdown)
    for row in range(0, len(tags), 3):
        for col, tag in zip(st.columns(3), tags[row:row + 3]):
            share_column(col, tag, rv.breakdown[tag], f"Time share of {tag}", key=f"breakdown_{tag}_chart")

# -- timeline beside the video ---------------------------------------------------------------
st.subheader("Timeline")
tf = timeline_figure(rv.timeline)
mark_corrected(tf.figure, rv)
mark_removed(tf.figure, rv.video)
removed_note(rv.video)

left, right = st.columns([3, 2])
with left:
    st.caption("Click a segment to play the video from its start. " + TIMELINE_CAPTION)
    event = st.plotly_chart(tf.figure, key=f"timeline_{result_id}", on_select="rerun", selection_mode="points")
points = (event or {}).get("selection", {}).get("points", []) if event else []
# The chosen start lives in the session: clicking the selected bar again deselects it (no points),
# which used to reset the video to 0:00, paused. Only a click on a bar changes where the video plays.
seek_key = f"review_seek_{result_id}"
if points and tf.start_of(points[-1]) is not None:
    st.session_state[seek_key] = tf.start_of(points[-1])
start_s = st.session_state.get(seek_key)


with right:
    if rv.video.playable_path.exists():
        # Under `halsted serve` the video (its browser-playable proxy when the worker made one) and the subtitles
        # come from the owner-only routes; under a plain `streamlit run`, Streamlit serves both from /media/.
        if owner_media.routes():
            owner_media.player(rv.video.id, result_id, start_s or 0.0, autoplay=start_s is not None)
        else:
            st.video(str(rv.video.playable_path), start_time=start_s or 0.0,
                     subtitles={"Halsted tags": rv.webvtt().encode()}, autoplay=start_s is not None, muted=True)
        st.caption(f"From {clock_precise(start_s or 0.0)} · tags shown as subtitles")
        if rv.video.proxy is None and not browser_playable(rv.video.path):
            st.warning("Browsers may not play this file's format: a playable copy is made by the worker when a "
                       "mapping job of this video runs (map it again if it was mapped elsewhere).")
    else:
        st.error("The video's file is missing from the data directory: delete it on the Library page and upload it "
                 "again.")

correction_panel(me, rv)

# -- overlay and exports ---------------------------------------------------------------------
st.subheader("Export")
c = st.columns(3)
if owner_media.routes():  # owner-only downloads (platform/web.py), not Streamlit's /media/
    owner_media.download(c[0], "Timeline CSV", result_id, "csv", ":material/table:")
    owner_media.download(c[1], "Timeline JSON", result_id, "json", ":material/data_object:")
else:
    c[0].download_button("Timeline CSV", rv.csv(), file_name=exports.file_name(rv, "csv"), mime="text/csv",
                         key="csv_download", icon=":material/table:")
    c[1].download_button("Timeline JSON", rv.json(), file_name=exports.file_name(rv, "json"),
                         mime="application/json", key="json_download", icon=":material/data_object:")

# Cached per result on disk (exports.overlay_path: named by content, corrections included): rendering reads
# every frame, so it happens once, on request.
overlay = exports.overlay_path(me.platform.settings, rv)
with c[2]:
    if not overlay.exists() and st.button("Render overlay video", key="overlay_render", icon=":material/movie:"):
        from halsted_hf.mapping.overlay import render_overlay

        bar = st.progress(0.0, text="Drawing the tags on every frame...")
        try:
            overlay.parent.mkdir(parents=True, exist_ok=True)
            def progress(done: int, total: int) -> None:
                if done % 50 == 0 or done == total:  # a UI message per frame would slow it down
                    bar.progress(min(1.0, done / max(total, 1)))

            # force: the database ties this result to this video; the id/duration check is for files
            # a user pairs by hand (the CLI), and a stored file's name is not the video id it was mapped as
            render_overlay(str(rv.video.path), rv.timeline, str(overlay), progress=progress, force=True)
        except HalstedError as err:
            st.error(md(err))
        bar.empty()
    if overlay.exists() and owner_media.routes():
        owner_media.download(st, "Overlay video (MP4)", result_id, "overlay", ":material/download:")
    elif overlay.exists():
        st.download_button("Overlay video (MP4)", overlay.read_bytes(), file_name=exports.file_name(rv, "overlay"),
                           mime="video/mp4", key="overlay_download", icon=":material/download:")
