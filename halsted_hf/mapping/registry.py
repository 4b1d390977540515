"""The one list of mappings: what `halsted map --mapping`, the dashboard, the database and the Space
accept. Torch-free on purpose (the CLI and the platform's database layer import it before any model).

A mapping names the stage-1 steps whose time stage 2 maps in detail: "procedure" maps only the coarse
steps of the whole video; "suturing" and "dissection" add the detailed tasks of that step; "full" both.
"""

from __future__ import annotations

from typing import Dict, Tuple

from ..errors import TaskError

# mapping -> the stage-1 steps whose time stage 2 maps (the order is the order every front end shows)
MAPPINGS: Dict[str, Tuple[str, ...]] = {"suturing": ("suturing",), "dissection": ("dissection",),
                                        "full": ("suturing", "dissection"), "procedure": ()}

# mapping -> one line for a button or a --help text
DESCRIPTIONS: Dict[str, str] = {
    "suturing": "Suturing: stitches, phases, proficiency, anatomy targets and directions",
    "dissection": "Dissection: actions, instruments and arms",
    "full": "Full: suturing and dissection",
    "procedure": "Procedure: the coarse steps of the whole video only",
}

# the mappings whose Timelines carry a suturing / a dissection breakdown
SUTURING_MAPPINGS = tuple(m for m, steps in MAPPINGS.items() if "suturing" in steps)
DISSECTION_MAPPINGS = tuple(m for m, steps in MAPPINGS.items() if "dissection" in steps)


def quote_short(text, limit: int = 60) -> str:
    """`text` quoted for an error line, cut to `limit` characters: a name typed or sent by anyone (5 MB of
    it) must not come back whole in the message, and a control character must not reach the terminal."""
    text = str(text)
    shown = repr(text[:limit])
    return shown + (f" (cut; {len(text):,} characters)" if len(text) > limit else "")


def check_mapping(mapping: str) -> str:
    """`mapping` if it is one of MAPPINGS, else a TaskError saying which are."""
    if mapping not in MAPPINGS:
        raise TaskError(f"Unknown mapping {quote_short(mapping)}: choose one of {', '.join(MAPPINGS)}.")
    return mapping
