"""The code passes `ruff check` with the repository's settings ([tool.ruff] in pyproject.toml: line length 119,
pycodestyle errors and warnings, pyflakes), so `make test` fails on a line too long or an unused import."""

from __future__ import annotations

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_ruff_check_passes():
    try:
        import ruff  # noqa: F401  (only: is it installed?)
    except ImportError:
        raise AssertionError("ruff is not installed: pip install -c constraints.txt -e '.[dev]'") from None
    # --no-cache: nothing is written into the checkout
    res = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, ("`ruff check .` found problems (fix them; the settings: [tool.ruff] in "
                                 f"pyproject.toml):\n{res.stdout}{res.stderr}")
