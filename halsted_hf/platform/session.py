"""`SurgeonSession`: the signed-in surgeon's view of the data, and the only door to it.

Every method filters by the surgeon's id. An id that belongs to another surgeon behaves exactly
like an id that does not exist (NotFoundError, same message), so a page that takes ids from a
URL or a widget cannot leak or touch anyone else's videos, jobs, results or files.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

from sqlalchemy import select

from . import jobs, storage
from .errors import NotFoundError, SignedOutError
from .tables import Correction, Result, Video, utcnow
from .records import JobRecord, ResultRecord, SurgeonRecord, VideoRecord

if TYPE_CHECKING:  # pragma: no cover
    from .service import Platform


class SurgeonSession:
    def __init__(self, platform: "Platform", surgeon: SurgeonRecord):
        self.platform = platform
        self.surgeon = surgeon
        self._signed_out = False

    # -- identity ---------------------------------------------------------------------------
    @property
    def id(self) -> int:
        return self.surgeon.id

    @property
    def signed_in(self) -> bool:
        return not self._signed_out

    def sign_out(self) -> None:
        """End the session: every later call raises SignedOutError."""
        self._signed_out = True

    @property
    def _Session(self):
        if self._signed_out:
            raise SignedOutError("You are signed out: sign in again to continue.")
        return self.platform.Session

    @property
    def _settings(self):
        return self.platform.settings

    # -- videos -----------------------------------------------------------------------------
    def upload_video(self, source, filename: Optional[str] = None) -> VideoRecord:
        """Store a video (a path or a binary file object such as Streamlit's UploadedFile).
        Raises VideoError, leaving nothing behind, when it is not a decodable video."""
        return storage.store_upload(self._settings, self._Session, self.id, source, filename)

    def list_videos(self) -> List[VideoRecord]:
        """The surgeon's videos, newest upload first."""
        with self._Session() as db:
            rows = db.scalars(select(Video).where(Video.owner_id == self.id)
                              .order_by(Video.uploaded_at.desc(), Video.id.desc()))
            return [VideoRecord.of(v, self._settings.data_dir) for v in rows]

    def get_video(self, video_id: int) -> VideoRecord:
        with self._Session() as db:
            return VideoRecord.of(storage.owned_video(db, self.id, video_id), self._settings.data_dir)

    def video_path(self, video_id: int) -> Path:
        return self.get_video(video_id).path

    def thumbnail_path(self, video_id: int) -> Optional[Path]:
        return self.get_video(video_id).thumbnail

    def delete_video(self, video_id: int) -> None:
        """Delete a video with its jobs, results, file and thumbnail (files shared with another
        surgeon's identical upload stay until their last row goes)."""
        storage.delete_video(self._settings, self._Session, self.id, video_id)

    # -- jobs -------------------------------------------------------------------------------
    def enqueue_job(self, video_id: int, mapping: str) -> JobRecord:
        """Queue a mapping of one of the surgeon's videos: one of the platform model's plans (the demo's:
        suturing | dissection | full | procedure); TaskError for another name. A worker (`halsted worker`) runs it."""
        return jobs.enqueue(self._Session, self.id, video_id, mapping, self.platform.mapping_plans())

    def list_jobs(self, video_id: Optional[int] = None, status=None) -> List[JobRecord]:
        """Jobs, newest first; `status` is one status or a list of them."""
        return jobs.list_jobs(self._Session, self.id, video_id, status)

    def get_job(self, job_id: int) -> JobRecord:
        with self._Session() as db:
            return JobRecord.of(jobs.owned_job(db, self.id, job_id))

    def cancel_job(self, job_id: int) -> JobRecord:
        return jobs.cancel(self._Session, self.id, job_id)

    def retry_job(self, job_id: int) -> JobRecord:
        return jobs.retry(self._Session, self.id, job_id)

    # -- results ----------------------------------------------------------------------------
    def list_results(self, video_id: Optional[int] = None, mapping: Optional[str] = None) -> List[ResultRecord]:
        """Results, newest first."""
        with self._Session() as db:
            q = select(Result).where(Result.owner_id == self.id)
            if video_id is not None:
                q = q.where(Result.video_id == video_id)
            if mapping is not None:
                q = q.where(Result.mapping == mapping)
            return [ResultRecord.of(r) for r in db.scalars(q.order_by(Result.created_at.desc(), Result.id.desc()))]

    def get_result(self, result_id: int) -> ResultRecord:
        with self._Session() as db:
            row = db.scalar(select(Result).where(Result.id == result_id, Result.owner_id == self.id))
            if row is None:
                raise NotFoundError(f"Result {result_id} is not one of your results: pick one from the Review page.")
            return ResultRecord.of(row)

    def latest_result(self, video_id: int, mapping: Optional[str] = None) -> Optional[ResultRecord]:
        """The newest result for one of the surgeon's videos (NotFoundError for a foreign video)."""
        self.get_video(video_id)
        found = self.list_results(video_id, mapping)
        return found[0] if found else None

    def add_result(self, video_id: int, timeline, mapping: Optional[str] = None) -> ResultRecord:
        """Store a Timeline mapped elsewhere (`halsted map`, the demo seed) for one of the
        surgeon's videos; `mapping` defaults to the timeline's workflow."""
        from .worker import procedure_of

        rid = jobs.record_result(self._Session, self.id, video_id, mapping or timeline.workflow,
                                 timeline.to_json(), procedure_of(timeline))
        return self.get_result(rid)

    def delete_result(self, result_id: int) -> None:
        with self._Session.begin() as db:
            row = db.scalar(select(Result).where(Result.id == result_id, Result.owner_id == self.id))
            if row is None:
                raise NotFoundError(f"Result {result_id} is not one of your results: pick one from the Review page.")
            db.delete(row)

    # -- corrections (corrections.py: a layer over the model's Timeline) -------------------
    def _owned_result_row(self, db, result_id: int) -> Result:
        row = db.scalar(select(Result).where(Result.id == result_id, Result.owner_id == self.id))
        if row is None:
            raise NotFoundError(f"Result {result_id} is not one of your results: pick one from the Review page.")
        return row

    def _correction_rows(self, db, result_ids) -> List[Correction]:
        return list(db.scalars(select(Correction).where(Correction.owner_id == self.id,
                                                        Correction.result_id.in_(list(result_ids)))
                               .order_by(Correction.id)))

    def list_corrections(self, result_id: int, include_undone: bool = False):
        """The surgeon's corrections of one of their results, oldest first (CorrectionRecord)."""
        from .corrections import CorrectionRecord

        with self._Session() as db:
            self._owned_result_row(db, result_id)
            recs = [CorrectionRecord.of(r) for r in self._correction_rows(db, [result_id])]
        return recs if include_undone else [r for r in recs if r.undone_at is None]

    def corrected(self, result_id: int):
        """The result's Timeline with the surgeon's active corrections applied (CorrectedTimeline)."""
        return self.corrected_many([self.get_result(result_id)])[result_id]

    def corrected_many(self, results) -> dict:
        """{result id: CorrectedTimeline} for some of the surgeon's ResultRecords, in one query."""
        from .corrections import CorrectionRecord, replay

        with self._Session() as db:
            rows = [CorrectionRecord.of(r) for r in self._correction_rows(db, [r.id for r in results])
                    if r.undone_at is None]
        by_result: dict = {}
        for rec in rows:
            by_result.setdefault(rec.result_id, []).append(rec)
        return {res.id: replay(res.timeline(), by_result.get(res.id, [])) for res in results}

    def correct(self, result_id: int, kind: str, change: dict):
        """Store one correction (corrections.py: category | split | merge | not-surgery) of one of the
        surgeon's results. CorrectionError (nothing stored) when it cannot apply; NotFoundError for a
        result that is not theirs or whose video was deleted."""
        import json

        from .corrections import CorrectionRecord, apply, replay

        with self._Session.begin() as db:
            row = self._owned_result_row(db, result_id)
            active = [CorrectionRecord.of(r) for r in self._correction_rows(db, [result_id]) if r.undone_at is None]
            ct = replay(ResultRecord.of(row).timeline(), active)
            taxonomy = self.platform.taxonomy_for(ct.original)
            if taxonomy is None and kind == "category":
                from .corrections import CorrectionError

                raise CorrectionError("This result's tags come from a model whose taxonomy is not known here: its "
                                      "categories cannot be corrected (its segments can still be merged or split).")
            replaced = apply(ct, kind, dict(change), taxonomy=taxonomy)
            new = Correction(owner_id=self.id, result_id=result_id, kind=kind,
                             change=json.dumps(change, sort_keys=True), replaced=json.dumps(replaced),
                             created_at=utcnow())
            db.add(new)
            db.flush()
            return CorrectionRecord.of(new)

    def set_category(self, result_id: int, index: int, tag: str, category: str):
        """Segment `index` (of the corrected Timeline) gets `category` for `tag`."""
        from .corrections import with_segment

        return self.correct(result_id, "category", with_segment(self.corrected(result_id), index,
                                                                tag=tag, category=category))

    def split_segment(self, result_id: int, index: int, at_s: float):
        from .corrections import with_segment

        return self.correct(result_id, "split", with_segment(self.corrected(result_id), index, at_s=at_s))

    def merge_with_next(self, result_id: int, index: int):
        from .corrections import with_segment

        return self.correct(result_id, "merge", with_segment(self.corrected(result_id), index))

    def mark_not_surgery(self, result_id: int, start_s: float, end_s: float):
        return self.correct(result_id, "not-surgery", {"start_s": start_s, "end_s": end_s})

    def undo_correction(self, result_id: int):
        """Take back the surgeon's latest active correction of a result (kept, marked undone)."""
        from .corrections import CorrectionError, CorrectionRecord

        with self._Session.begin() as db:
            self._owned_result_row(db, result_id)
            active = [r for r in self._correction_rows(db, [result_id]) if r.undone_at is None]
            if not active:
                raise CorrectionError("There is no correction of this result to undo.")
            active[-1].undone_at = utcnow()
            db.flush()
            return CorrectionRecord.of(active[-1])

    # -- what the pages show (analytics.py) -------------------------------------------------
    def summary(self, recent: int = 5, include_ood: bool = False):
        from .analytics import surgeon_summary

        return surgeon_summary(self, recent=recent, include_ood=include_ood)

    def library(self, **kwargs):
        from .analytics import library_rows

        return library_rows(self, **kwargs)

    def review(self, result_id: int):
        from .analytics import review

        return review(self, result_id)

    def __repr__(self) -> str:
        state = "signed out" if self._signed_out else "signed in"
        return f"SurgeonSession({self.surgeon.email!r}, {state})"
