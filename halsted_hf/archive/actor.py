"""The Ray actor that maps videos: it loads the model once, then maps one video per call with the
multi-stage workflow (`halsted_hf.mapping.workflow.map_video`, the same code as `halsted map`).

It writes nothing: it returns the Timeline's JSON, the segment rows and the video's record, and the
driver writes them. Storage then needs no sharing between machines (only the videos must be readable
where the actors run), and one process owns the archive's files.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import time
import warnings
from datetime import datetime, timezone
from typing import Optional

from .store import TAGS

DEID_SUFFIX = "+deidentified"


def one_line(err: BaseException) -> str:
    """An error as the one line a table cell and a terminal can show."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 500 else text[:497] + "..."


class VideoMapper:
    """Wrapped with `ray.remote` by the driver (this module does not import ray: it is plain Python,
    usable and testable without a cluster)."""

    def __init__(self, model: Optional[str], device: str, mapping: str, batch_size: int, threads: int,
                 deidentify: bool = False):
        import torch
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a weight-loading bar per actor would garble the driver's terminal
        from ..mapping.workflow import load_model
        from ..core.mappings import check_mapping

        torch.set_num_threads(max(1, threads))  # the CPUs Ray gave this actor, not the whole machine's
        self.batch_size, self.threads = batch_size, max(1, threads)
        self.engine = load_model(model, device=device)  # once per actor: every video reuses it
        self.mapping = check_mapping(mapping, self.engine.taxonomy.mapping_plans(), self.engine.name)
        # a de-identified archive is another archive: its manifest must not take plain runs (and back)
        self.deidentify = bool(deidentify)
        self.model_id = f"{self.engine.name}@{self.engine.revision}" + (DEID_SUFFIX if deidentify else "")
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def describe(self) -> dict:
        return {"model_id": self.model_id, "worker": self.worker}

    def map(self, path: str, content_hash: str, mapping: Optional[str] = None) -> dict:
        """Map one video -> {"record": {...}, "timeline_json": str or None, "rows": [...]}.

        Any error becomes a failed record with its one-line message: a bad video never stops the run.
        `retryable` is False for a HalstedError (the content is at fault: the same bytes fail again)."""
        from ..core.errors import HalstedError
        from ..mapping.summaries import procedure_summary, suturing_summary
        from ..video import validate_video
        from ..mapping.workflow import MappingStats, map_video
        from ..deid.timeline_mask import without_stretches

        mapping = mapping or self.mapping  # the platform's backend maps each job with its own mapping
        record = {"content_hash": content_hash, "model_id": self.model_id, "mapping": mapping,
                  "path": path, "worker": self.worker, "status": "failed", "retryable": False}
        t0 = time.perf_counter()
        try:
            info = validate_video(path)
            record["duration_s"] = float(info.duration_s)
            record["probe_s"] = time.perf_counter() - t0
            stats = MappingStats()
            t1 = time.perf_counter()
            with warnings.catch_warnings(), deidentified_copy(path, self.deidentify) as (mapped, report):
                warnings.simplefilter("ignore")  # a truncated video's warning is in the Timeline itself
                tl = map_video(mapped, mapping=mapping, model=self.engine, batch_size=self.batch_size,
                               stats=stats, workers=self.threads)
                if report is not None:
                    tl = without_stretches(tl, report.removed_stretches)
                    tl.extra["deidentification"] = report.to_dict()
                    record["deid_removed_s"] = report.removed_s
            record["map_s"] = time.perf_counter() - t1
            for name in ("decode_s", "wait_s", "encoder_s", "decoder_s"):
                record[name] = float(getattr(stats, name))
            proc = procedure_summary(tl)
            sut = suturing_summary(tl)
            record.update(status="ok", procedure=proc["procedure"], specialty=proc["specialty"],
                          segments=len(tl.segments), stitches=sut["stitches"],
                          stitches_with_proficiency=sut["stitches_with_proficiency"],
                          high_proficiency_stitches=sut["high_proficiency_stitches"],
                          suturing_time_s=float(sut["suturing_time_s"]))
            return {"record": _finish(record), "timeline_json": tl.to_json() + "\n",
                    "rows": segment_rows(tl, content_hash, self.model_id)}
        except Exception as err:  # noqa: BLE001  (recorded, never raised: one video must not stop the run)
            record.update(error=one_line(err), retryable=not isinstance(err, HalstedError))
            return {"record": _finish(record), "timeline_json": None, "rows": []}


@contextlib.contextmanager
def deidentified_copy(path: str, deidentify: bool):
    """(the path to map, its DeidReport): the video itself, or (with `deidentify`) its de-identified copy in a
    temp folder on this worker, deleted afterwards: the archive keeps timelines, not videos."""
    if not deidentify:
        yield path, None
        return
    from ..deid.rewrite import deidentify as make_copy

    with tempfile.TemporaryDirectory(prefix="halsted-deid-") as folder:
        copy = os.path.join(folder, os.path.splitext(os.path.basename(path))[0] + ".mp4")
        yield copy, make_copy(path, copy)


def _finish(record: dict) -> dict:
    record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


def segment_rows(timeline, content_hash: str, model_id: str) -> list:
    """The Timeline's rows (`Timeline.rows`, as `halsted map --csv` writes them) with every tag column
    of the archive's fixed schema, plus the content hash and model id."""
    columns, rows = timeline.rows()
    out = []
    for row in rows:
        d = dict(zip(columns, row))
        full = {"content_hash": content_hash, "model_id": model_id}
        for c in ("video_id", "start_s", "end_s", "duration_s", "stage", "task"):
            full[c] = d[c]
        for t in TAGS:
            full[t], full[f"{t}_score"] = d.get(t), d.get(f"{t}_score")
        out.append(full)
    return out
