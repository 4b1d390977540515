"""The processor takes what transformers' video processors take (VideoMAE's, LLaVA-NeXT-Video's): one clip or a
batch, as arrays, tensors, lists of PIL frames or video paths; one text for many clips; one tags dict."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import run_without_halsted

from halsted_hf.model.hub import build_model


@pytest.fixture(scope="module")
def processor():
    return build_model("tiny", seed=0)[1]


def _clip(seed: int, frames: int = 5) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, 40, 56, 3), dtype=np.uint8)


def test_one_clip_in_any_form_is_a_batch_of_one(processor):
    clip = _clip(0)
    want = processor(videos=clip)["pixel_values"]
    assert want.shape == (1, processor.num_frames, 3, processor.image_size, processor.image_size)
    as_pil = [Image.fromarray(f) for f in clip]
    for form in (torch.from_numpy(clip), clip.transpose(0, 3, 1, 2), as_pil, list(clip)):
        assert torch.allclose(processor(videos=form)["pixel_values"], want, atol=1e-5)


def test_batches_as_lists_or_five_d_arrays_and_one_text_for_all(processor):
    clips = [_clip(1), _clip(2), _clip(3)]
    batch = processor(videos=clips, text="proficiency")
    assert batch["pixel_values"].shape[0] == 3 and batch["instruction_ids"].shape[0] == 3
    assert torch.equal(batch["instruction_ids"][0], batch["instruction_ids"][2])
    stacked = processor(videos=np.stack(clips))["pixel_values"]
    assert torch.allclose(stacked, batch["pixel_values"], atol=1e-5)
    pil_batch = processor(videos=[[Image.fromarray(f) for f in c] for c in clips])["pixel_values"]
    assert torch.allclose(pil_batch, batch["pixel_values"], atol=1e-5)
    with pytest.raises(ValueError, match="2 given for 3 clips"):
        processor(videos=clips, text=["proficiency", "context"])


def test_one_tags_dict_is_the_target_of_every_clip(processor):
    tags = {"phase": "driving", "proficiency": "high"}
    one = processor(videos=_clip(4), text="proficiency", tags=tags)["labels"]
    listed = processor(videos=_clip(4), text="proficiency", tags=[tags])["labels"]
    assert torch.equal(one, listed)
    assert processor.parse(torch.cat([torch.full((1, 1), 1), one.clamp(min=0)], dim=1)) == [tags]


def test_a_video_path_is_read_at_the_clip_instants(processor, make_video, tmp_path):
    path = make_video(tmp_path / "case.mp4", 3.0, size="96x72", rate=10)
    from halsted_hf.model.video_halsted import sample_video

    frames = sample_video(str(path), processor.num_frames, processor.image_size)
    assert frames.shape == (processor.num_frames, processor.image_size, processor.image_size, 3)
    assert not np.array_equal(frames[0], frames[-1])  # testsrc2 moves: the instants span the video
    assert torch.allclose(processor(videos=str(path))["pixel_values"], processor(videos=frames)["pixel_values"])
    assert processor(videos=[path, str(path)])["pixel_values"].shape[0] == 2
    with pytest.raises(ValueError, match="no video file at"):
        processor(videos=str(tmp_path / "missing.mp4"))


def test_without_halsted_hf_the_saved_processor_takes_paths_and_pil_frames(tiny_model_dir, make_video, tmp_path):
    path = make_video(tmp_path / "case.mp4", 2.0, size="96x72", rate=10)
    res = run_without_halsted(f"""
        import json
        import numpy as np
        from PIL import Image
        from transformers import AutoModel, AutoProcessor
        processor = AutoProcessor.from_pretrained({tiny_model_dir!r}, trust_remote_code=True)
        model = AutoModel.from_pretrained({tiny_model_dir!r}, trust_remote_code=True)
        frames = [Image.fromarray(np.full((48, 64, 3), 90, np.uint8)) for _ in range(6)]
        out = model.generate(**processor(videos=[{str(path)!r}, frames], text="map suturing activity"))
        print("TAGS", json.dumps(out.tags))
    """, tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    tags = json.loads(res.stdout.split("TAGS ", 1)[1].splitlines()[0])
    assert len(tags) == 2 and all(t and set(t) <= {"phase", "proficiency"} for t in tags)
