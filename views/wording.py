"""Counts in words (not a page: app.py never registers it): "1 stitch", "2 stitches"."""


def quantity(n, singular: str, plural: str = None) -> str:
    """`n` and the noun in the number it needs; `plural` defaults to `singular` + "s"."""
    return f"{n} {singular if n == 1 else (plural or singular + 's')}"
