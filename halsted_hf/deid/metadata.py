"""What a file says about itself besides its pictures: container tags (title, comment, artist, creation time,
location, encoder...), each stream's tags (handler names, languages, times) and chapters. De-identification
keeps none of it; the report lists the keys that were there (never their values: those are what is removed)."""

from __future__ import annotations

from typing import List


def metadata_keys(path: str) -> List[str]:
    """["format:title", "stream0(video):handler_name", ..., "chapters:2"], read with PyAV."""
    import av

    keys: List[str] = []
    with av.open(str(path)) as container:
        keys += [f"format:{k}" for k in sorted(container.metadata)]
        for s in container.streams:
            keys += [f"stream{s.index}({s.type}):{k}" for k in sorted(s.metadata)]
        chapters = container.chapters()
        if chapters:
            keys.append(f"chapters:{len(chapters)}")
            for i, chapter in enumerate(chapters):
                keys += [f"chapter{i}:{k}" for k in sorted(chapter.get("metadata", {}) or {})]
    return keys
