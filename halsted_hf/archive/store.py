"""The archive's folder on disk: what is written where, and how a crash can never leave half a video.

    OUT/archive.json                        the mapping and model this archive holds (one of each)
    OUT/timelines/<hash>.json               one Timeline per video content
    OUT/segments/video_procedure=<p>/<key>.parquet  that video's segment rows (hive partitioned by procedure)
    OUT/records/<key>.parquet               that video's one row: status, error, timings (the commit point)
    OUT/videos.parquet                      every record in one table, rebuilt at the end of each run

<hash> is the SHA-256 of the file's bytes, <key> is "<hash>-<model key>". Every file is written to a temp
file in its folder and renamed into place (atomic on POSIX), and a video's record is written last: a
video counts as done only once its record says so, so a run killed at any point leaves whole files,
and a rerun rewrites, under the same names, whatever a killed attempt had begun. No row is ever
appended to a shared file, so there is nothing to duplicate.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
from typing import Dict, Iterable, List, Optional

import pyarrow as pa
import pyarrow.parquet as pq

from ..core.errors import HalstedError
from ..core.io import atomic_path, atomic_write_text

VIDEO_EXTENSIONS = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts",
                    ".m2ts", ".wmv", ".flv", ".3gp")
# Tag columns of the segment table, fixed (the Halsted taxonomy's order) so that every video's file has
# the same schema and the dataset reads as one table; written here, not imported, to keep the driver
# light (tests check it equals HALSTED_TAXONOMY.all_tags).
TAGS = ("specialty", "procedure", "step", "action", "arm", "instrument", "phase", "proficiency", "anatomy",
        "extent", "direction")
UNKNOWN = "unknown"  # partition of a video whose procedure the model did not give

SEGMENT_SCHEMA = pa.schema(
    [("content_hash", pa.string()), ("model_id", pa.string()), ("video_id", pa.string()),
     ("start_s", pa.float64()), ("end_s", pa.float64()), ("duration_s", pa.float64()), ("stage", pa.int64()),
     ("task", pa.string())]
    + [f for t in TAGS for f in ((t, pa.string()), (f"{t}_score", pa.float64()))])

RECORD_SCHEMA = pa.schema([
    ("content_hash", pa.string()), ("model_id", pa.string()), ("mapping", pa.string()), ("path", pa.string()),
    ("size_bytes", pa.int64()), ("mtime_ns", pa.int64()), ("status", pa.string()), ("error", pa.string()),
    ("retryable", pa.bool_()), ("attempts", pa.int64()), ("duration_s", pa.float64()),
    ("procedure", pa.string()), ("specialty", pa.string()), ("segments", pa.int64()), ("stitches", pa.int64()),
    ("stitches_with_proficiency", pa.int64()), ("high_proficiency_stitches", pa.int64()),
    ("suturing_time_s", pa.float64()), ("probe_s", pa.float64()), ("map_s", pa.float64()),
    ("decode_s", pa.float64()), ("wait_s", pa.float64()), ("encoder_s", pa.float64()),
    ("decoder_s", pa.float64()), ("worker", pa.string()), ("finished_at", pa.string()),
])


def content_hash(path: str) -> str:
    """SHA-256 of the file's bytes: the video's identity, whatever its name or folder."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def model_key(model_id: str) -> str:
    """A short file-name-safe id of a model id (which may hold slashes: a Hub id)."""
    return hashlib.sha256(model_id.encode()).hexdigest()[:12]


def list_videos(source: str) -> List[str]:
    """SOURCE -> absolute video paths, sorted: a folder (searched recursively for video extensions),
    a text file with one path a line (blank lines and # comments skipped), or a glob pattern."""
    if os.path.isdir(source):
        found = [os.path.join(d, f) for d, _, files in os.walk(source) for f in files
                 if f.lower().endswith(VIDEO_EXTENSIONS) and not f.startswith(".")]
    elif os.path.isfile(source) and not source.lower().endswith(VIDEO_EXTENSIONS):
        base = os.path.dirname(os.path.abspath(source))
        with open(source, encoding="utf-8") as f:
            lines = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith("#")]
        found = [ln if os.path.isabs(ln) else os.path.join(base, ln) for ln in lines]
    elif os.path.isfile(source):
        found = [source]
    else:
        found = [p for p in glob.glob(source, recursive=True) if os.path.isfile(p)]
        if not found and not glob.has_magic(source):
            raise HalstedError(f"{source}: no such folder, file list or file; give a folder of videos, a text "
                               f"file with one video path a line, or a glob such as 'cases/*.mp4'")
    if not found:
        raise HalstedError(f"{source}: no videos found (looked for {', '.join(VIDEO_EXTENSIONS[:5])}, ...)")
    return sorted({os.path.abspath(p) for p in found})


def write_table(path: str, rows: List[dict], schema: pa.Schema) -> None:
    table = pa.Table.from_pylist(rows, schema=schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


class ArchiveStore:
    """Reads and writes one archive folder (see the module docstring for the layout)."""

    def __init__(self, out: str):
        self.out = os.path.abspath(out)
        self.written = 0  # videos committed by this process: a run that wrote none leaves videos.parquet be
        if os.path.exists(self.out) and not os.path.isdir(self.out):
            raise HalstedError(f"{out}: exists and is not a folder; give --out a folder (new or an archive)")

    def path(self, *parts: str) -> str:
        return os.path.join(self.out, *parts)

    @contextlib.contextmanager
    def lock(self):
        """Hold OUT/.lock while a run writes: two runs on one archive would map the same videos twice.
        The kernel drops the lock when the process dies, even by SIGKILL; the temp files a killed run
        left are then removed (nothing reads them: readers skip names starting with a dot)."""
        os.makedirs(self.out, exist_ok=True)
        with open(self.path(".lock"), "a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise HalstedError(f"{self.out}: another map-archive run is writing this archive; wait for it "
                                   f"or give another --out") from None
            for tmp in glob.glob(self.path("**", ".tmp-*"), recursive=True):
                os.unlink(tmp)
            try:
                yield self
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    # ---- the archive's identity -------------------------------------------------------------
    def check_manifest(self, mapping: str, model_id: str) -> None:
        """One archive holds one mapping by one model: its tables would not be comparable otherwise."""
        manifest = self.path("archive.json")
        want = {"mapping": mapping, "model_id": model_id}
        if os.path.exists(manifest):
            with open(manifest, encoding="utf-8") as f:
                have = json.load(f)
            if {k: have.get(k) for k in want} != want:
                raise HalstedError(f"{self.out} holds mapping {have.get('mapping')!r} by model "
                                   f"{have.get('model_id')!r}, not {mapping!r} by {model_id!r}; "
                                   f"give another --out folder")
            return
        os.makedirs(self.out, exist_ok=True)
        text = json.dumps(want, indent=2) + "\n"
        atomic_write_text(manifest, text)

    # ---- records ----------------------------------------------------------------------------
    def records(self) -> Dict[str, dict]:
        """Every video record, by key."""
        files = sorted(glob.glob(self.path("records", "*.parquet")))
        if not files:
            return {}
        rows = pq.ParquetDataset(files, schema=RECORD_SCHEMA).read().to_pylist()
        return {f"{r['content_hash']}-{model_key(r['model_id'])}": r for r in rows}

    def compact(self) -> int:
        """Rewrite OUT/videos.parquet from the records (atomically); returns its row count."""
        rows = sorted(self.records().values(), key=lambda r: (r["path"] or "", r["content_hash"]))
        write_table(self.path("videos.parquet"), rows, RECORD_SCHEMA)
        return len(rows)

    # ---- one video's results ----------------------------------------------------------------
    def write_video(self, key: str, record: dict, timeline_json: Optional[str] = None,
                    segment_rows: Iterable[dict] = ()) -> None:
        """Write a video's timeline and segment rows (if it was mapped), then its record, last."""
        if timeline_json is not None:
            tl_path = self.path("timelines", f"{record['content_hash']}.json")
            atomic_write_text(tl_path, timeline_json)
            part = _partition_value(record.get("procedure"))
            target = self.path("segments", f"video_procedure={part}", f"{key}.parquet")
            # A killed earlier attempt may have left this video's rows under another procedure.
            for old in glob.glob(self.path("segments", "*", f"{key}.parquet")):
                if os.path.abspath(old) != target:
                    os.unlink(old)
            write_table(target, list(segment_rows), SEGMENT_SCHEMA)
        write_table(self.path("records", f"{key}.parquet"), [record], RECORD_SCHEMA)
        self.written += 1


def _partition_value(procedure: Optional[str]) -> str:
    # Hive partition values live in folder names: keep them to safe characters.
    text = procedure or UNKNOWN
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
