"""Surgeons' corrections as training labels: the rows `halsted export-labels` writes (an operator's command:
it reads every surgeon's corrections, so it is not reachable from a SurgeonSession).

Every segment that carries a category a surgeon set becomes atlas rows (data/atlas.py) with
`annotation_source = "surgeon"`: one row per clip window the mapping workflow would have cut there
(data/windows.py, with the video's real duration), so training reads exactly those clips. A row's tags are
the segment's tags as the surgeon left them: the ones they set, and the model's ones they saw and kept;
`surgeon_tags` names the ones they set. `video_path` is the stored file's absolute path in the data directory.
"""

from __future__ import annotations

import json
from typing import List, Optional

import pandas as pd
from sqlalchemy import select

from ..errors import HalstedError
from .corrections import CorrectionRecord, labelled_segments, replay
from .models import Correction, Result, Surgeon, Video
from .records import ResultRecord


def export_rows(platform, surgeon_email: Optional[str] = None) -> pd.DataFrame:
    """The atlas rows of every active correction (of one surgeon when `surgeon_email` is given)."""
    from ..data.atlas import make_row, to_frame
    from ..data.windows import segment_windows, window_lengths
    from ..model.taxonomy import HALSTED_TAXONOMY

    lengths = window_lengths()
    rows: List[dict] = []
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
            for seg, surgeon_tags in labelled_segments(ct):
                task = HALSTED_TAXONOMY.task(seg.task)
                w = lengths.get(task.name, seg.end_s - seg.start_s)
                for a, b in segment_windows(seg.start_s, seg.end_s, w, duration):
                    rows.append(make_row(
                        f"dashboard-{video.sha256[:16]}", str(path), a, b, task.name, task.instruction, dict(seg.tags),
                        HALSTED_TAXONOMY.specialty_of_procedure.get(procedure, ""), procedure, "surgeon",
                        surgeon=email, surgeon_tags=json.dumps(sorted(surgeon_tags)), result_id=int(result_id),
                        correction_ids=json.dumps([r.id for r in records]),
                        model=f"{model.get('name', 'unknown')}@{model.get('revision', 'unknown')}"))
    return to_frame(rows)
