"""User text inside Markdown (not a page: app.py never registers it).

Streamlit renders st.markdown, st.title, st.caption, st.success/st.error and st.write strings as
GitHub-flavoured Markdown with its own directives (`:red[...]`, `:material/icon:`). A file name such
as `[click me](https://evil.example) **bold**.mp4` would become a live link there, so every piece of
text a user chose (file names, names, e-mails, messages that quote them) goes through `md()`.
"""

from __future__ import annotations

import re

# CommonMark lets a backslash escape any ASCII punctuation character and then shows it literally;
# that stops links, emphasis, HTML and Streamlit's directives.
_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
# GFM's bare autolinks (www.x, https://x, a@b.org) are found in the text *after* escapes are resolved
# (checked in Chromium), so an invisible WORD JOINER (U+2060) goes where they would start: after `www`,
# after a scheme's colon (letters before it, `//` or a word after it: https://, mailto:x) and after an @.
# Only there: a time such as 0:32.5 is copied from the page as it reads, with nothing invisible inside.
_WORD_JOINER = "\u2060"
_AUTOLINK_STARTS = re.compile(r"(?i)(www)(?=\\\.)|((?<=[a-z])\\:(?=\\/\\/|\w))|(\\@)")


def md(text) -> str:
    """`text` shown literally inside Markdown: punctuation escaped, autolinks broken, line breaks made
    spaces."""
    escaped = _PUNCTUATION.sub(r"\\\1", re.sub(r"[\r\n]+", " ", str(text)))
    return _AUTOLINK_STARTS.sub(lambda m: m.group(0) + _WORD_JOINER, escaped)
