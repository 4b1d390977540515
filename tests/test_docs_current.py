"""The code and the docs stand on their own: they cite no tracker issue by number and no document outside the
repository (each says the reason itself), and every relative link in the docs points at a file that exists."""

from __future__ import annotations

import os
import re

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SEARCHED = ["halsted_hf", "docs", "README.md", "benchmarks", "tests", "scripts", "Makefile"]
SKIPPED_DIRS = {".git", "__pycache__", ".pytest_cache", ".venv", "node_modules"}

# The word issue (or issues) followed by a number, with a space, a hyphen or "#" between, in any case; and the
# two design documents kept outside the repository, by file name.
FORBIDDEN = re.compile(r"\bissues?[ -]#?[0-9]|\bdesign[.]md\b|\bpaper[.]md\b", re.IGNORECASE)


def _text_files():
    for entry in SEARCHED:
        path = os.path.join(ROOT, entry)
        if os.path.isfile(path):
            yield path
            continue
        for folder, dirs, files in os.walk(path):
            dirs[:] = [d for d in dirs if d not in SKIPPED_DIRS]
            for name in files:
                yield os.path.join(folder, name)


def _read_text(path):
    """The file's text, or None for a binary file (a NUL byte, or not UTF-8)."""
    with open(path, "rb") as f:
        data = f.read()
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def test_no_issue_numbers_or_outside_documents_in_code_or_docs():
    found = []
    for path in _text_files():
        text = _read_text(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if FORBIDDEN.search(line):
                found.append(f"{os.path.relpath(path, ROOT)}:{number}: {line.strip()[:120]}")
    assert not found, "say the reason instead of citing an issue or an outside document:\n" + "\n".join(found)


_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(markdown):
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for line in markdown.splitlines():
        m = re.match(r"#{1,6}\s+(.*)", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            out.add(slug)
    return out


def test_relative_links_in_the_docs_point_at_files_and_headings_that_exist():
    pages = [os.path.join(ROOT, "README.md")] + sorted(
        os.path.join(ROOT, "docs", n) for n in os.listdir(os.path.join(ROOT, "docs")) if n.endswith(".md"))
    broken = []
    for page in pages:
        text = open(page, encoding="utf-8").read()
        for target in _LINK.findall(text):
            if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
            if not os.path.exists(resolved):
                broken.append(f"{os.path.relpath(page, ROOT)}: {target} (no such file)")
            elif (anchor and resolved.endswith(".md")
                  and anchor not in _anchors(open(resolved, encoding="utf-8").read())):
                broken.append(f"{os.path.relpath(page, ROOT)}: {target} (no such heading)")
    assert not broken, "\n".join(broken)
