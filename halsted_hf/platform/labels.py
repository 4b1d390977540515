"""Surgeons' corrections as training labels: the rows `halsted export-labels` writes (an operator's command:
it reads every surgeon's corrections, so it is not reachable from a SurgeonSession).

Every segment a surgeon's correction touched (a category set, a split, a merge, a cut) becomes atlas rows
(data/atlas.py) with `annotation_source = "surgeon"`: one row per clip window the mapping workflow would have cut
there (data/windows.py, with the video's real duration), so training reads exactly those clips. A row's tags are
the segment's tags as the surgeon left them: the ones they set, and the model's ones they saw and kept;
`surgeon_tags` names the ones they set, `surgeon_span` whether they set the segment's start and end. Stretches
marked not surgery are listed beside the rows (export_rows' second table). `video_path` is the stored file's
absolute path in the data directory.
"""

from __future__ import annotations

import json
import os
from typing import List, Optional, Tuple

import pandas as pd
from sqlalchemy import select

from ..core.errors import HalstedError
from .corrections import CorrectionRecord, labelled_segments, replay
from .tables import Correction, Result, Surgeon, Video
from .records import ResultRecord


NOT_SURGERY_COLUMNS = ["video_id", "video_path", "start_s", "end_s", "surgeon", "result_id"]


def not_surgery_path(atlas_path: str) -> str:
    """Where the not-surgery stretches go beside an export's atlas file: ATLAS/not_surgery.csv for
    ATLAS/atlas.parquet, labels.not_surgery.csv for labels.csv or labels.parquet."""
    folder, name = os.path.split(atlas_path)
    stem = os.path.splitext(name)[0]
    return os.path.join(folder, "not_surgery.csv" if stem == "atlas" else f"{stem}.not_surgery.csv")


def export_rows(platform, surgeon_email: Optional[str] = None) -> Tuple[pd.DataFrame, pd.DataFrame]:
    """(atlas rows, not-surgery stretches) of every active correction (of one surgeon when `surgeon_email` is
    given). Rows come from every segment a correction touched; `surgeon_span` says the surgeon set its start and
    end (a split, a merge, a cut). A stretch marked not surgery is no atlas row (it has no tags), but it is kept:
    one line per stretch, which a training set can use to leave that time out."""
    from ..data.atlas import make_row, to_frame
    from ..data.windows import segment_windows, window_lengths
    from ..model.taxonomy import HALSTED_TAXONOMY

    lengths = window_lengths()
    rows: List[dict] = []
    stretches: List[dict] = []
    with platform.Session() as db:
        q = select(Correction, Surgeon.email).join(Surgeon, Surgeon.id == Correction.owner_id)
        if surgeon_email is not None:
            email = surgeon_email.strip().lower()
            if db.scalar(select(Surgeon.id).where(Surgeon.email == email)) is None:
                raise HalstedError(f"No surgeon has the e-mail {surgeon_email!r}: check it, or export --all.")
            q = q.where(Surgeon.email == email)
        by_result: dict = {}
        for corr, email in db.execute(q.where(Correction.undone_at.is_(None)).order_by(Correction.id)):
            by_result.setdefault(corr.result_id, (email, []))[1].append(CorrectionRecord.of(corr))
        for result_id, (email, records) in sorted(by_result.items()):
            res = db.get(Result, result_id)
            video = db.get(Video, res.video_id)
            ct = replay(ResultRecord.of(res).timeline(), records)
            path = platform.settings.data_dir / video.stored_path
            duration = float(video.duration_s)
            procedure = video.procedure or ""
            model = ct.original.model
            video_id = f"dashboard-{video.sha256[:16]}"
            for seg, surgeon_tags, surgeon_span in labelled_segments(ct):
                task = HALSTED_TAXONOMY.task(seg.task)
                w = lengths.get(task.name, seg.end_s - seg.start_s)
                for a, b in segment_windows(seg.start_s, seg.end_s, w, duration):
                    rows.append(make_row(
                        video_id, str(path), a, b, task.name, task.instruction, dict(seg.tags),
                        HALSTED_TAXONOMY.specialty_of_procedure.get(procedure, ""), procedure, "surgeon",
                        surgeon=email, surgeon_tags=json.dumps(sorted(surgeon_tags)), surgeon_span=surgeon_span,
                        result_id=int(result_id), correction_ids=json.dumps([r.id for r in records]),
                        model=f"{model.get('name', 'unknown')}@{model.get('revision', 'unknown')}"))
            for a, b in ct.not_surgery:
                stretches.append({"video_id": video_id, "video_path": str(path), "start_s": a, "end_s": b,
                                  "surgeon": email, "result_id": int(result_id)})
    return to_frame(rows), pd.DataFrame(stretches, columns=NOT_SURGERY_COLUMNS)
