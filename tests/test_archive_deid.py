"""map-archive --deidentify, on the actor itself (plain Python, no Ray): each video's de-identified copy is
mapped, nothing is mapped in its removed stretch, the report travels with the timeline, and the archive's model
id says it is a de-identified archive."""

from __future__ import annotations

import glob
import json
import os
import tempfile

import deid_video as case


def test_actor_maps_the_deidentified_copy(tmp_path, tiny_model_dir, oob_classifier):
    from halsted_hf.archive.actor import DEID_SUFFIX, VideoMapper

    video = case.make_case(tmp_path)
    mapper = VideoMapper(tiny_model_dir, "cpu", "procedure", 8, 1, deidentify=True)
    out = mapper.map(str(video), "h" * 64)
    assert out["record"]["status"] == "ok", out["record"]
    assert mapper.model_id.endswith(DEID_SUFFIX) and out["record"]["model_id"] == mapper.model_id
    timeline = json.loads(out["timeline_json"])
    stretches = timeline["removed_stretches"]
    lo, hi = case.OUT_OF_BODY
    assert any(s <= lo + 0.25 and e >= hi - 0.25 for s, e in stretches), stretches
    for seg in timeline["segments"]:  # nothing mapped where the picture was removed
        assert not any(seg["start_s"] < e and seg["end_s"] > s for s, e in stretches), seg
    assert timeline["deidentification"]["audio_removed"] and out["record"]["deid_removed_s"] > 1.0
    assert glob.glob(os.path.join(tempfile.gettempdir(), "halsted-deid-*")) == []  # the copy's folder is gone
    plain = VideoMapper(tiny_model_dir, "cpu", "procedure", 8, 1)
    assert not plain.model_id.endswith(DEID_SUFFIX)
