"""User text inside Markdown (not a page: app.py never registers it).

Streamlit renders st.markdown, st.title, st.caption, st.success/st.error and st.write strings as
GitHub-flavoured Markdown with its own directives (`:red[...]`, `:material/icon:`). A file name such
as `[click me](https://evil.example) **bold**.mp4` would become a live link there, so every piece of
text a user chose (file names, names, e-mails, messages that quote them) goes through `md()`.
"""

from __future__ import annotations

import re

# CommonMark lets a backslash escape any ASCII punctuation character and then shows it literally;
# escaping all of them also stops GFM autolinks (`https\:`, `www\.`) and Streamlit's directives.
_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")


def md(text) -> str:
    """`text` shown literally inside Markdown: punctuation escaped, line breaks made spaces."""
    return _PUNCTUATION.sub(r"\\\1", re.sub(r"[\r\n]+", " ", str(text)))
