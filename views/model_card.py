"""Which model produced a result, what it was trained on and how accurate it measured (not a page:
app.py never registers it). Read from the model folder's card (halsted_hf/model/model_card.py)."""

from __future__ import annotations

import streamlit as st
from views.markup import md

from halsted_hf.model.model_card import SYNTHETIC_LABEL, CardSummary, find_model_folder, summarise_card
from halsted_hf.platform.settings import default_model


def card_of(platform, model: dict) -> CardSummary:
    """The card of a Timeline's `model` ({name, revision}): found among the configured model and the
    bundled demo model (a result made elsewhere may name a model this machine does not have)."""
    name, revision = str(model.get("name") or "unknown"), str(model.get("revision") or "unknown")
    folder = find_model_folder(name, [platform.settings.model, default_model()])
    return summarise_card(name, revision, folder)


def show_card(card: CardSummary, key: str) -> None:
    """One line naming the model, what it was trained on and its accuracy; the synthetic label as a
    warning; the card itself (on the Hub when it lives there, else here in full)."""
    st.caption(f"**Model** {md(card.name)} (revision {md(card.revision)}) · **trained on** {md(card.trained_on)} "
               f"· **measured** {md(card.accuracy)}")
    if card.synthetic:
        st.warning(SYNTHETIC_LABEL, icon=":material/science:")
    if card.link:
        st.link_button("Model card", card.link, icon=":material/description:")
    elif card.text:
        with st.expander("Model card", icon=":material/description:", key=key):
            st.markdown(card.text)
