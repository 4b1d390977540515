"""How pages mark what a surgeon should not take at face value (not a page: app.py never registers it):
tags the model's card marks not reliable (halsted_hf/mapping/reliability.py, read from the Timeline) with the
reason one click away, headline numbers that leave them out, and results the out-of-distribution check flags
(halsted_hf/mapping/ood.py)."""

from __future__ import annotations

from typing import Iterable, Optional

import streamlit as st
from views.markup import md

from halsted_hf.mapping.headline import OUT_OF_DISTRIBUTION, is_out_of_distribution
from halsted_hf.mapping.reliability import NOT_RELIABLE, Reliability


def ood_banner(timeline) -> None:
    """The out-of-distribution warning of a result, labelled so when the check flagged the whole video."""
    warning = timeline.ood_warning()
    if not warning:
        return
    label = f"**{OUT_OF_DISTRIBUTION}.** " if is_out_of_distribution(timeline.ood) else ""
    st.warning(label + md(warning), icon=":material/help:")


def unreliable_note(rel: Reliability, key: str) -> None:
    """Which tags of this result the model's card marks not reliable; the reasons in an expander."""
    tags = rel.unreliable
    if not tags:
        return
    st.warning(f"**{NOT_RELIABLE.capitalize()}** on this model's held-out videos: {md(', '.join(tags))}. "
               f"These tags are marked \"{NOT_RELIABLE}\" below, and the headline numbers that rest on them are "
               f"left out.",
               icon=":material/rule:")
    with st.expander("Why these tags are marked not reliable", key=key):
        for tag in tags:
            st.markdown(f"- **{md(tag)}**: {md(rel.reason(tag))}")
        if rel.command:
            st.caption(f"From the model's evaluation: {md(rel.command)}")


def reasons(rel: Reliability, tags: Iterable[str]) -> Optional[str]:
    """'tag: reason; ...' for the tags of `tags` that are not reliable, None when all are."""
    bad = [t for t in tags if not rel.is_reliable(t)]
    return "; ".join(f"{t} {NOT_RELIABLE}: {rel.reason(t)}" for t in bad) or None


def rests_on(tags: Iterable[str]) -> str:
    """Which tags a headline number is computed from, in words."""
    tags = list(tags)
    return f"From the {' and '.join(tags)} tag{'s' if len(tags) > 1 else ''} only."


def headline_metric(col, label: str, value, tags: Iterable[str], rel: Reliability, help: Optional[str] = None) -> None:
    """A headline number, or, when a tag it rests on is not reliable, "–" labelled so with the reason on hover;
    the hover names the tags it rests on either way."""
    tags = list(tags)
    why = reasons(rel, tags)
    if why:
        col.metric(f"{label} ({NOT_RELIABLE})", "–", help=f"Left out: {why}. {rests_on(tags)}")
    else:
        col.metric(label, value, help=" ".join(h for h in (help, rests_on(tags)) if h))


def title(rel: Reliability, tag: str, text: str) -> str:
    """A chart's or table's title, marked when its tag is not reliable."""
    return text if rel.is_reliable(tag) else f"{text} ({NOT_RELIABLE})"


def ood_totals_toggle(summary) -> None:
    """Summary's switch that puts results the out-of-distribution check flagged back into its totals and
    trends, and a line saying which way the numbers below are counted. Nothing when none is flagged."""
    n = summary.ood_videos
    if not n:
        return
    videos = f"{n} video{'s' if n != 1 else ''}"
    st.toggle("Include out-of-distribution results", key="summary_include_ood",
              help="Results whose footage does not look like the surgery the model was trained on are left out "
                   "of the totals and trends unless this is on.")
    if summary.include_ood:
        st.warning(f"**{OUT_OF_DISTRIBUTION} included**: the numbers below count {videos} whose footage does not "
                   f"look like the surgery the model was trained on.", icon=":material/help:")
    else:
        st.caption(f"{OUT_OF_DISTRIBUTION}: {videos} left out of these totals and trends (their footage does not "
                   f"look like the surgery the model was trained on; see the Library).")
