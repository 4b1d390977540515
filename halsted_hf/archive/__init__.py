"""Mapping an archive of videos on Ray: `halsted map-archive` and `halsted archive-summary`.

    from halsted_hf.archive import map_archive
    run = map_archive("cases/", "archive-out", mapping="full", workers=2)

store.py   the archive folder: layout, content hashes, atomic Parquet writes (no Ray, no torch)
actor.py   the model-holding worker: maps one video per call with the multi-stage workflow
run.py     the driver: skip what is done, feed the actors, commit each video, progress
summary.py tables over an archive (pandas; the files are plain Parquet)

Ray is an optional extra (`pip install halsted-hf[archive]`); it is imported only when a run starts.
"""

from .run import ArchiveRun, map_archive

__all__ = ["ArchiveRun", "map_archive"]
