"""What every evaluation report is drawn with: Markdown tables and a headless matplotlib."""

from __future__ import annotations

from typing import List


def markdown_table(header: List[str], rows: List[List[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows])


def pyplot():
    """matplotlib.pyplot on the Agg backend: reports are written on servers without a display."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
