"""The Review page's corrections (platform/corrections.py): a surgeon changes a tag's category, splits or
merges segments, marks a stretch "not surgery", undoes; corrected stretches are marked on the timeline and
the breakdown says it uses the corrected values. The model's Timeline stays as it was, under the layer."""

import streamlit as st
from views.markup import md

from halsted_hf.core.errors import HalstedError
from halsted_hf.platform.corrections import index_of, preview, segment_key, with_segment
from halsted_hf.core.clock import clock_precise

ACTIONS = ("Change a category", "Split at a time", "Merge with the next segment", "Mark a stretch not surgery")
CORRECTED_LINE = "#d62728"  # a dashed red frame: visible over every category colour


def corrected_note(rv) -> None:
    """Above the breakdown: these numbers are the corrected ones (or nothing, when nothing is corrected)."""
    if rv.is_corrected:
        n = len(rv.corrected.corrections)
        st.info(f"Corrected by you: {n} correction{'s' if n != 1 else ''}. The breakdown, the timeline, the "
                f"exports and your Summary use your corrected values; the model's output is kept unchanged "
                f"(undo below to return to it).", icon=":material/edit:")


def mark_corrected(figure, rv) -> None:
    """Frame, on the timeline figure, each corrected tag's bar (dashed red: its row only) and grey out the
    stretches marked not surgery."""
    if not rv.is_corrected:
        return
    rows = list(figure.layout.yaxis.categoryarray or [])  # plots.timeline_figure: one category per tag row
    for a, b, tags in rv.corrected.corrected_spans():
        for tag in tags:
            if tag in rows:  # a categorical axis puts row k at y = k
                k = rows.index(tag)
                figure.add_shape(type="rect", x0=a, x1=b, y0=k - 0.45, y1=k + 0.45, xref="x", yref="y",
                                 fillcolor="rgba(0,0,0,0)", layer="above",
                                 line=dict(color=CORRECTED_LINE, width=2, dash="dash"))
    for a, b in rv.corrected.not_surgery:
        figure.add_vrect(x0=a, x1=b, fillcolor="rgba(90,90,90,0.35)", line_width=0, layer="above",
                         annotation_text="not surgery", annotation_position="top left")
    figure.add_annotation(text="dashed red: corrected by you", xref="paper", yref="paper", x=1, y=1.0,
                          xanchor="right", yanchor="bottom", showarrow=False, font=dict(color=CORRECTED_LINE))
    figure.update_layout(margin=dict(t=36))  # room for that line above the rows


def _segment_label(i: int, seg, mark) -> str:
    edited = " ✎" if mark["tags"] or mark["edited"] else ""
    return f"#{i} {_span(seg.to_dict())}{edited}"


def _span(seg: dict) -> str:
    tags = ", ".join(f"{t}: {c}" for t, c in seg["tags"].items()) or "no tags"
    return f"{seg['task']} {clock_precise(seg['start_s'])}–{clock_precise(seg['end_s'])} · {tags}"


def _pick_segment(ct, rid) -> int:
    """The segment the surgeon picked, kept by its stable key (platform/corrections.py::segment_key). After a
    merge, split or cut the picked segment has a new key: the pick follows it to the segment that now covers
    its start, and says so; it never falls back to the first segment while the old label is on screen."""
    segs, widget = ct.timeline.segments, f"correct_segment_{rid}"
    keys = [segment_key(s) for s in segs]
    picked = st.session_state.get(widget)
    if picked not in keys:
        k = index_of(ct, picked)
        st.session_state[widget] = keys[k if k is not None else 0]
        if picked is not None:
            now = segs[k if k is not None else 0].to_dict()
            st.info(f"The segment you picked was changed by your correction; now picked: {md(_span(now))}.")
    position = {key: n for n, key in enumerate(keys)}
    return position[st.selectbox("Segment", keys, key=widget,
                                 format_func=lambda key: _segment_label(position[key], segs[position[key]],
                                                                        ct.marks[position[key]]))]


def _show_preview(ct, kind: str, change: dict) -> None:
    """What the button below will change, before it changes (or why it cannot)."""
    try:
        replaced, added = preview(ct, kind, change)
    except HalstedError as err:
        st.warning(md(err), icon=":material/block:")
        return
    lines = [f"- now: {md(_span(seg))}" for seg in replaced] + [f"- after: {md(_span(seg))}" for seg in added]
    st.markdown("**This will change:**\n" + "\n".join(lines))


def _apply(call, done: str) -> None:
    """Run one correction (its change names the segment as this page showed it: a segment another tab
    changed meanwhile is refused, never mistaken for another); a refusal is shown as it is (nothing was stored),
    a success survives the rerun."""
    try:
        call()
    except HalstedError as err:
        st.error(md(err))
        return
    st.session_state["correction_message"] = done
    st.rerun()


def correction_panel(me, rv) -> None:
    """The editor below the timeline."""
    rid, ct = rv.result.id, rv.corrected
    st.subheader("Corrections")
    if msg := st.session_state.pop("correction_message", None):
        st.success(msg)
    segs = rv.timeline.segments
    if not segs:
        st.caption("Nothing is mapped in this result: there is nothing to correct.")
        return
    left, right = st.columns([3, 2])
    with left:
        i = _pick_segment(ct, rid)
        seg = segs[i]
        action = st.radio("Correction", ACTIONS, horizontal=True, key=f"correct_action_{rid}")
        taxonomy = me.platform.taxonomy_for(rv.original)
        if action == ACTIONS[0] and taxonomy is None:
            st.caption("This result's tags come from a model whose taxonomy is not known here: its categories "
                       "cannot be corrected.")
        elif action == ACTIONS[0]:
            task = taxonomy.task(seg.task)
            c = st.columns(2)
            tag = c[0].selectbox("Tag", list(task.tags), key=f"correct_tag_{rid}")
            cats = list(task.tags[tag])  # only this tag's categories in the model's taxonomy
            now = seg.tags.get(tag)
            category = c[1].selectbox("Category", cats, index=cats.index(now) if now in cats else 0,
                                      key=f"correct_category_{rid}")
            change = with_segment(ct, i, tag=tag, category=category)
            if category == now:
                st.caption(f"Its {tag} is {md(now)} now: pick the category it should have.")
            else:
                _show_preview(ct, "category", change)
            if st.button("Apply", key=f"correct_apply_category_{rid}", icon=":material/check:"):
                _apply(lambda: me.correct(rid, "category", change),
                       f"{tag} of {clock_precise(seg.start_s)}–{clock_precise(seg.end_s)} set to {category}.")
        elif action == ACTIONS[1]:
            split_key, for_key = f"correct_split_{rid}", f"correct_split_for_{rid}"
            if st.session_state.get(for_key) != segment_key(seg):  # another segment: start from its middle
                st.session_state[for_key] = segment_key(seg)
                st.session_state[split_key] = round((seg.start_s + seg.end_s) / 2, 2)
            # No min/max: the widget would replace an outside time by a bound without a word; the server
            # refuses it with a message instead.
            at = st.number_input(f"Split at (seconds, between {seg.start_s:.1f} and {seg.end_s:.1f})", step=0.1,
                                 key=split_key)
            change = with_segment(ct, i, at_s=float(at))
            _show_preview(ct, "split", change)
            if st.button("Split", key=f"correct_apply_split_{rid}", icon=":material/content_cut:"):
                _apply(lambda: me.correct(rid, "split", change), f"Split at {clock_precise(at)}.")
        elif action == ACTIONS[2]:
            change = with_segment(ct, i)
            _show_preview(ct, "merge", change)
            if st.button("Merge", key=f"correct_apply_merge_{rid}", icon=":material/merge:"):
                _apply(lambda: me.correct(rid, "merge", change), "Merged with the next segment.")
        else:
            c = st.columns(2)
            end = max(rv.timeline.duration_s, seg.end_s)
            # no min/max either (see the split): a time outside the video is refused with a message
            a = c[0].number_input(f"From (seconds, 0 to {end:.1f})", value=float(seg.start_s), step=0.1,
                                  key=f"correct_ns_from_{rid}")
            b = c[1].number_input("To (seconds)", value=float(seg.end_s), step=0.1, key=f"correct_ns_to_{rid}")
            if st.button("Mark not surgery", key=f"correct_apply_ns_{rid}", icon=":material/block:"):
                _apply(lambda: me.mark_not_surgery(rid, float(a), float(b)),
                       f"{clock_precise(a)}–{clock_precise(b)} marked not surgery.")
    with right:
        if st.button("Undo last correction", key=f"correct_undo_{rid}", icon=":material/undo:",
                     disabled=not ct.corrections):
            _apply(lambda: me.undo_correction(rid), "Undone.")
        if ct.corrections:
            st.markdown("**Your corrections** (oldest first)")
            for rec in ct.corrections:
                st.caption(f"{md(rec.describe())} · {rec.created_at:%Y-%m-%d %H:%M} UTC")
        else:
            st.caption("No corrections: this is the model's output.")
