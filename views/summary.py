"""Summary: the signed-in surgeon's record across videos (numbers from platform.analytics)."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from views.markup import md
from views.model_card import card_of, show_card
from views.session_guard import signed_in_surgeon
from views.trust_marks import ood_totals_toggle, rests_on

from halsted_hf.mapping.headline import OUT_OF_DISTRIBUTION
from halsted_hf.mapping.reliability import NOT_RELIABLE
from halsted_hf.plots import share_figure
from views.wording import quantity

me = signed_in_surgeon()
s = me.summary(recent=5, include_ood=st.session_state.get("summary_include_ood", False))

st.title(f"Welcome, {md(s.name)}")
ood_totals_toggle(s)  # flagged results stay out of the totals and trends unless the surgeon puts them back


def hours(h: float) -> str:
    return f"{h * 60:.1f} min" if h < 1 else f"{h:.1f} h"


c = st.columns(5 if s.suturing else 3)  # stitch numbers only where a model maps suturing
c[0].metric("Videos", s.videos)
c[1].metric("Mapped videos", s.mapped_videos)
c[2].metric("Hours mapped", hours(s.hours_mapped))
if s.suturing:
    c[3].metric("Stitches", s.stitches, help=rests_on(["phase"]) + " Results whose model's card marks it not "
                "reliable are left out.")
    c[4].metric("High proficiency", "–" if s.high_share is None else f"{s.high_share:.0%}",
                help=rests_on(["phase", "proficiency"]) + " Results whose model's card marks either not reliable "
                     "are left out.")
if s.reliability_note:
    st.caption(md(s.reliability_note))
if s.corrected_results:
    st.caption(f"Using your corrections: {s.corrected_results} of your results carry corrections you made on the "
               f"Review page; these numbers use your corrected values, not the model's.")

if not s.videos:
    st.info("Your library is empty: upload an operative video on the Library page, then map it on the Map page.")
    st.page_link("views/library.py", label="Go to the Library", icon=":material/upload:")
    st.stop()

def proficiency_chart() -> None:
    st.subheader("Proficiency over time")
    frame = s.proficiency_frame().dropna(subset=["high_share"])
    if frame.empty:
        st.caption("No proficiency to plot: the tag is not reliable for these results (see above)."
                   if s.left_out.get("high_share") else
                   "No suturing has been mapped yet: map a video with the suturing or full mapping.")
        return
    fig = go.Figure(go.Scatter(
        x=frame["date"], y=frame["high_share"] * 100, mode="lines+markers", text=frame["video"],
        customdata=[quantity(n, "stitch", "stitches") for n in frame["stitches"]],
        hovertemplate="%{text}<br>%{y:.0f}% high proficiency<br>%{customdata}<extra></extra>"))
    fig.update_layout(yaxis_title="stitches with high proficiency (%)", yaxis_range=[-3, 105],
                      xaxis_title="upload date", height=320, margin=dict(l=10, r=10, t=10, b=10))
    first, last = frame["date"].min(), frame["date"].max()
    pad = max((last - first) * 0.05, pd.Timedelta(days=2))  # one point still gets a readable axis
    fig.update_xaxes(range=[first - pad, last + pad], tickformat="%Y-%m-%d")
    st.plotly_chart(fig, key="proficiency_chart")


def tag_time_charts() -> None:
    """Another taxonomy's model (CholecT50's phases, instruments, ...): each tag's time across the videos."""
    st.subheader("Time per tag across your videos")
    if not s.tag_time_s:
        st.caption("Nothing mapped yet: map a video on the Map page.")
    for tag, times in s.tag_time_s.items():
        total = sum(times.values()) or 1.0
        fig = share_figure({k: v / total for k, v in times.items()}, f"Time share of {tag}", "%")
        if fig is not None:
            st.plotly_chart(fig, key=f"summary_{tag}_chart")


left, right = st.columns([2, 1])
with left:
    if s.suturing:
        proficiency_chart()
    else:
        tag_time_charts()
with right:
    st.subheader("Procedures")
    if s.procedures:
        st.dataframe({"procedure": list(s.procedures), "videos": list(s.procedures.values())},
                     hide_index=True, key="procedures_table")
    else:
        st.caption("No procedure to count: the tag is not reliable for these results (see above)."
                   if s.left_out.get("procedure") else "Procedures appear once a video is mapped.")
    if s.jobs:
        st.caption("Jobs: " + ", ".join(f"{n} {status}" for status, n in s.jobs.items()))

if s.models:
    st.subheader("Models behind these results")
    for i, (model, count) in enumerate(s.models):
        st.markdown(f"{count} result{'s' if count != 1 else ''} by:")
        show_card(card_of(me.platform, model), key=f"model_card_{i}")

st.subheader("Most recent results")
if not s.recent:
    st.caption("No results yet: map a video on the Map page.")
for r in s.recent:
    cols = st.columns([3, 2, 2, 2, 1])
    cols[0].markdown(f"**{md(r.video)}**  \n{r.created_at:%Y-%m-%d %H:%M} UTC")
    unsure = f" ({NOT_RELIABLE})" if r.procedure and "procedure" in r.left_out else ""
    cols[1].markdown(f"{r.mapping} mapping  \n{md(r.procedure or 'procedure not known')}{unsure}")
    cols[2].markdown((f"stitches {NOT_RELIABLE}" if "stitches" in r.left_out else "–") if r.stitches is None
                     else quantity(r.stitches, "stitch", "stitches"))
    cols[3].markdown((f"proficiency {NOT_RELIABLE}" if "high_share" in r.left_out else "–") if r.high_share is None
                     else f"{r.high_share:.0%} high proficiency")
    if r.out_of_distribution:
        counted = "counted above, as asked" if s.include_ood else "not in the totals"
        cols[0].warning(f"{OUT_OF_DISTRIBUTION}: {counted}", icon=":material/help:")
    if cols[4].button("Review", key=f"recent_{r.result_id}"):
        st.session_state["review_result_id"] = r.result_id
        st.switch_page("views/review.py")
