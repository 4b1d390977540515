"""Dataset loaders: atlas folders, HSA-27k via `datasets`, SAR-RARP50 folders, CholecT50 frames + JSON.

Real files throughout: tiny 60 fps AVIs made by ffmpeg, datasets written with `datasets`, PNG frames
written with PIL, and the shared CholecT50 copy when this machine has it.
"""

import functools
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from halsted_hf.data.atlas import make_row, tags_of, to_frame, write_atlas
from halsted_hf.data.loaders import (ColumnMapping, DatasetError, cholect50_taxonomy, load_atlas_folder,
                                     load_cholect50, load_hsa27k, load_rarp50, rarp50_taxonomy, read_frame_clip)
from halsted_hf.data.loaders.cholect50 import category_name, pick_frames
from halsted_hf.data.loaders.rarp50 import Segment, action_segments, split_segment
from halsted_hf.core.errors import HalstedError, VideoError

from helpers import make_video
from conftest import CHOLECT50_MINI as SHARED_CHOLECT50  # ../shared beside the checkout


def write_labels(path, runs, step=6):
    """runs: [(class, number of labels)] -> `frame,class` rows every `step` frames."""
    frame, lines = 0, []
    for cls, n in runs:
        for _ in range(n):
            lines.append(f"{frame},{cls}")
            frame += step
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


# ------------------------------------------------------------------------------------------------ SAR-RARP50
@pytest.fixture(scope="module")
def rarp_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("rarp50")
    # video_01: 1.5 s "other", a 0.1 s blip of picking-up (dropped: < 1 s), 2.4 s of tying a knot
    v1 = root / "train1" / "video_01"
    make_video(str(v1 / "video_left.avi"), 4, size="64x48", rate=60, pattern="testsrc", codec="mpeg4")
    write_labels(v1 / "action_discrete.txt", [(0, 15), (1, 1), (5, 24)])
    v2 = root / "train2" / "video_02"
    make_video(str(v2 / "video_left.avi"), 3, size="64x48", rate=60, pattern="testsrc", codec="mpeg4")
    write_labels(v2 / "action_discrete.txt", [(3, 30)])
    v3 = root / "test" / "video_41"
    make_video(str(v3 / "video_left.avi"), 3, size="64x48", rate=60, pattern="testsrc", codec="mpeg4")
    write_labels(v3 / "action_discrete.txt", [(2, 12), (4, 18)])
    return root


def test_rarp50_segments_clips_and_split(rarp_root):
    df = load_rarp50(str(rarp_root))
    v1 = df[df.video_id == "rarp50-video_01"].sort_values("start_s")
    assert [tags_of(r)["action"] for _, r in v1.iterrows()] == ["other", "tying a knot"]
    assert v1[["start_s", "end_s"]].values.tolist() == [[0.0, 1.5], [1.6, 4.0]]
    assert set(df.task) == {"suturing-action"} and set(df.instruction) == {"map suturing action"}
    assert df.groupby("split").video_id.nunique().to_dict() == {"train": 2, "test": 1}
    assert set(df[df.split == "test"].video_id) == {"rarp50-video_41"}
    assert set(df.procedure) == {"prostatectomy"} and set(df.specialty) == {"urology"}
    assert all(os.path.isfile(p) for p in df.video_path)
    test_tags = [tags_of(r)["action"] for _, r in df[df.split == "test"].sort_values("start_s").iterrows()]
    assert test_tags == ["positioning the needle tip", "pulling the needle out of the tissue"]
    # every category of a clip is one of the taxonomy's 8 actions
    assert {tags_of(t)["action"] for t in df.tags} <= set(rarp50_taxonomy().task("suturing-action").tags["action"])
    assert len(load_rarp50(str(rarp_root), subsets=["test"])) == 2


def test_rarp50_long_segments_split_into_clips_of_at_most_20s():
    assert split_segment(Segment(10.0, 55.0, 3)) == [(10.0, 25.0), (25.0, 40.0), (40.0, 55.0)]
    assert split_segment(Segment(0.0, 20.0, 3)) == [(0.0, 20.0)]
    assert split_segment(Segment(0.0, 0.9, 3)) == []
    # a gap in the frame numbers ends a run even when the class stays the same
    segs = action_segments([(0, 1), (6, 1), (60, 1), (66, 2)])
    assert segs == [Segment(0.0, 0.2, 1), Segment(1.0, 1.1, 1), Segment(1.1, 1.2, 2)]


def test_rarp50_clip_limit_is_configurable(rarp_root):
    df = load_rarp50(str(rarp_root), subsets=["train1"], max_clip_s=1.0)
    knot = df[df.tags.map(lambda t: tags_of(t)["action"] == "tying a knot")]
    assert len(knot) == 3 and np.allclose(knot.end_s - knot.start_s, 0.8)


def test_rarp50_label_file_beyond_video_is_an_error(tmp_path):
    folder = tmp_path / "test" / "video_42"
    make_video(str(folder / "video_left.avi"), 2, size="64x48", rate=60, pattern="testsrc", codec="mpeg4")
    write_labels(folder / "action_discrete.txt", [(0, 100)])  # 10 s of labels for a 2 s video
    with pytest.raises(DatasetError, match=r"action_discrete\.txt.*does not match its video"):
        load_rarp50(str(tmp_path))


def test_rarp50_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(HalstedError, match="no such SAR-RARP50 folder"):
        load_rarp50(str(tmp_path / "nowhere"))
    with pytest.raises(DatasetError, match="no train1/, train2/ or test/"):
        load_rarp50(str(tmp_path))
    folder = tmp_path / "train1" / "video_03"
    folder.mkdir(parents=True)
    (folder / "video_left.avi").write_bytes(b"not a video at all" * 50)
    write_labels(folder / "action_discrete.txt", [(0, 5)])
    with pytest.raises(VideoError, match=r"video_03/video_left\.avi: not a readable video"):
        load_rarp50(str(tmp_path))
    make_video(str(folder / "video_left.avi"), 1, size="64x48", rate=60, pattern="testsrc", codec="mpeg4")
    (folder / "action_discrete.txt").write_text("0,0\n6,9\n")
    with pytest.raises(DatasetError, match=r"action_discrete\.txt, line 2: class 9"):
        load_rarp50(str(tmp_path))
    (folder / "action_discrete.txt").write_text("0,0\nsix,1\n")
    with pytest.raises(DatasetError, match=r"line 2: expected `frame,class`"):
        load_rarp50(str(tmp_path))
    os.remove(folder / "video_left.avi")
    with pytest.raises(DatasetError, match=r"video_03/video_left\.avi: missing"):
        load_rarp50(str(tmp_path))


# ------------------------------------------------------------------------------------------------ atlas folder
def _atlas_rows(video_rel, end_s=2.0):
    return [make_row("v1", video_rel, 0.0, end_s, "micro-activity", "map dissection activity",
                     {"action": "hook", "arm": "left"}, "urology", "prostatectomy")]


def test_atlas_folder_resolves_and_checks_videos(tmp_path):
    make_video(str(tmp_path / "videos" / "v1.avi"), 2, size="64x48", rate=10, pattern="testsrc", codec="mpeg4")
    write_atlas(to_frame(_atlas_rows("videos/v1.avi")), str(tmp_path / "atlas.parquet"))
    df = load_atlas_folder(str(tmp_path), probe=True)
    assert df.video_path[0] == str(tmp_path / "videos" / "v1.avi") and tags_of(df.iloc[0])["action"] == "hook"

    write_atlas(to_frame(_atlas_rows("videos/v1.avi", end_s=9.0)), str(tmp_path / "atlas.parquet"))
    assert len(load_atlas_folder(str(tmp_path))) == 1  # without probing, only existence is checked
    with pytest.raises(DatasetError, match=r"run to 9\.00 s but the video lasts 2\.00 s"):
        load_atlas_folder(str(tmp_path), probe=True)

    write_atlas(to_frame(_atlas_rows("videos/gone.mp4")), str(tmp_path / "atlas.parquet"))
    with pytest.raises(DatasetError, match=r"videos/gone\.mp4: video not found"):
        load_atlas_folder(str(tmp_path))
    (tmp_path / "videos" / "fake.mp4").write_text("hello")
    write_atlas(to_frame(_atlas_rows("videos/fake.mp4")), str(tmp_path / "atlas.parquet"))
    with pytest.raises(VideoError, match=r"fake\.mp4: not a readable video"):
        load_atlas_folder(str(tmp_path), probe=True)


def test_atlas_folder_bad_paths(tmp_path):
    with pytest.raises(DatasetError, match="no such atlas folder"):
        load_atlas_folder(str(tmp_path / "missing"))
    with pytest.raises(DatasetError, match="no atlas.parquet or atlas.csv"):
        load_atlas_folder(str(tmp_path))
    (tmp_path / "atlas.csv").write_text("video_id,start_s\nv,0\n")
    with pytest.raises(DatasetError, match="missing column"):
        load_atlas_folder(str(tmp_path))


# ------------------------------------------------------------------------------------------------ HSA-27k
@pytest.fixture()
def clips_dir(tmp_path):
    for name in ("a.mp4", "b.mp4"):
        (tmp_path / name).write_bytes(b"\0")  # only existence is checked by this loader
    return tmp_path


def test_hsa27k_target_text_from_save_to_disk(clips_dir):
    import datasets

    ds = datasets.Dataset.from_dict({
        "video": ["a.mp4", "a.mp4", "b.mp4"],
        "start": [0.0, 5.0, 2.0], "end": [4.0, 9.5, 3.0],
        "instruction": ["map dissection activity", "map suturing activity", "map procedure type"],
        "target": ["<action> hook </action> <arm> both </arm> <instrument> bipolar forceps – monopolar scissors "
                   "</instrument>", "<phase>driving</phase><proficiency>High</proficiency>",
                   "<specialty> urology </specialty> <procedure> prostatectomy </procedure>"],
        "procedure": ["prostatectomy", "prostatectomy", "prostatectomy"],
    })
    ds.save_to_disk(str(clips_dir / "hsa"))
    df = load_hsa27k(str(clips_dir / "hsa"), video_root=str(clips_dir))
    assert df.task.tolist() == ["micro-activity", "proficiency", "macro-activity"]
    assert tags_of(df.iloc[0]) == {"action": "hook", "arm": "both",
                                   "instrument": "bipolar forceps–monopolar scissors"}
    assert tags_of(df.iloc[1]) == {"phase": "driving", "proficiency": "high"}  # case normalised
    assert df.video_path[2] == str(clips_dir / "b.mp4") and df.video_id.tolist() == ["a", "a", "b"]
    assert set(df.specialty) == {"urology"} and set(df.split) == {"train"} and set(df.dataset) == {"hsa-27k"}


def test_hsa27k_csv_with_json_tags_and_custom_mapping(clips_dir):
    table = pd.DataFrame({
        "clip_video": ["a.mp4", "b.mp4"], "t0_ms": [0, 1000], "t1_ms": [2500, 3000],
        "task_name": ["context", "macro-activity"],
        "labels": [json.dumps({"anatomy": "bladder–urethra", "direction": "in"}), json.dumps({"step": "suturing"})],
        "annotator": ["manual", "ai"],
    })
    csv = clips_dir / "clips.csv"
    table.to_csv(csv, index=False)
    mapping = ColumnMapping(video_path="clip_video", start_s="t0_ms", end_s="t1_ms", task="task_name",
                            annotation_source="annotator", time_scale=0.001)
    df = load_hsa27k(str(csv), mapping=mapping)
    assert df[["start_s", "end_s"]].values.tolist() == [[0.0, 2.5], [1.0, 3.0]]
    assert tags_of(df.iloc[0]) == {"anatomy": "bladder–urethra", "direction": "in"}
    assert df.annotation_source.tolist() == ["manual", "ai"] and df.task[1] == "macro-activity"


def test_hsa27k_tag_columns_and_dict_column(clips_dir):
    import datasets

    per_tag = datasets.Dataset.from_dict({"video_path": [str(clips_dir / "a.mp4")], "start_s": [0.0],
                                          "end_s": [1.0], "action": ["clip"], "arm": ["right"]})
    df = load_hsa27k(per_tag)  # a Dataset object works too; task inferred from the tags
    assert df.task[0] == "micro-activity" and tags_of(df.iloc[0]) == {"action": "clip", "arm": "right"}
    struct = datasets.Dataset.from_dict({"video_path": [str(clips_dir / "b.mp4")] * 2, "start_s": [0.0, 1.0],
                                         "end_s": [1.0, 2.0], "task": ["proficiency"] * 2,
                                         "tags": [{"phase": "withdrawal", "proficiency": None},
                                                  {"phase": "driving", "proficiency": "low"}]})
    df = load_hsa27k(struct)
    assert [tags_of(r) for _, r in df.iterrows()] == [{"phase": "withdrawal"},
                                                       {"phase": "driving", "proficiency": "low"}]


def test_hsa27k_errors(clips_dir):
    import datasets

    ds = datasets.Dataset.from_dict({"video": ["a.mp4"], "begin": [0.0], "finish": [1.0], "tags": ['{"step": "x"}']})
    with pytest.raises(DatasetError, match=r"no column for \['end_s'\].*ColumnMapping\(end_s="):
        load_hsa27k(ds, video_root=str(clips_dir))
    with pytest.raises(DatasetError, match="has no column 'stop_time'"):
        load_hsa27k(ds, mapping=ColumnMapping(end_s="stop_time"))
    with pytest.raises(DatasetError, match=r"row 0: tags \{'step': 'x'\} are not categories"):
        load_hsa27k(ds, mapping=ColumnMapping(end_s="finish"), video_root=str(clips_dir))
    assert len(load_hsa27k(ds, mapping=ColumnMapping(end_s="finish"), video_root=str(clips_dir),
                           on_invalid="skip")) == 0
    ds = datasets.Dataset.from_dict({"video": ["gone.mp4"], "start": [0.0], "end": [1.0],
                                     "tags": ['{"step": "suturing"}']})
    with pytest.raises(DatasetError, match=r"gone\.mp4: video file not found"):
        load_hsa27k(ds, video_root=str(clips_dir))
    assert len(load_hsa27k(ds, check_videos=False)) == 1
    ds = datasets.Dataset.from_dict({"video": ["a.mp4"], "start": [3.0], "end": [1.0],
                                     "tags": ['{"step": "suturing"}']})
    with pytest.raises(DatasetError, match="end 1.0 s is not after start 3.0 s"):
        load_hsa27k(ds, video_root=str(clips_dir))
    with pytest.raises(DatasetError, match="no such file or folder"):
        load_hsa27k(str(clips_dir / "missing.parquet"))


# ------------------------------------------------------------------------------------------------ CholecT50
def _label_row(triplet, instrument, verb, target, phase):
    return [triplet, instrument, 1.0, 0.1, 0.1, 0.2, 0.2, verb, target, 1.0, -1, -1, -1, -1, phase]


def _cholect_folder(root, frames, number=1, name="VID01", categories=None):
    """A CholecT50-format folder the test builds: PNG frames (one colour per second) + a label JSON."""
    cats = categories or {
        "instrument": {"0": "grasper", "1": "bipolar", "2": "hook"},
        "verb": {"0": "grasp", "1": "retract", "2": "dissect", "9": "null_verb"},
        "target": {"0": "gallbladder", "1": "cystic_plate", "14": "null_target"},
        "phase": {"0": "preparation", "1": "carlot-triangle-dissection"},
    }
    os.makedirs(root / "videos" / name, exist_ok=True)
    os.makedirs(root / "labels", exist_ok=True)
    for second in frames:
        Image.new("RGB", (32, 24), (second * 10 % 256, 0, 0)).save(root / "videos" / name / f"{second:06d}.png")
    return root / "labels" / f"{name}.json", {"video": number, "fps": 1, "categories": cats, "annotations": {}}


def test_cholect50_built_folder_windows_and_triplets(tmp_path):
    label_file, data = _cholect_folder(tmp_path, range(0, 20))
    ann = data["annotations"]
    for s in range(0, 10):  # window 0: hook dissects gallbladder on 6 frames, grasper retracts on 4
        ann[str(s)] = [_label_row(1, 2, 2, 0, 0) if s < 6 else _label_row(2, 0, 1, 1, 0)]
    ann["3"].append(_label_row(3, 0, 0, 0, 0))
    for s in range(10, 14):  # window 1 (10-19): phase 1 on 3 frames beats phase 0 on 1; only null triplets
        ann[str(s)] = [_label_row(94, 0, 9, 14, 1 if s > 10 else 0)]
    label_file.write_text(json.dumps(data))
    df = load_cholect50(str(tmp_path), window_s=10, split="val")
    assert df[["start_s", "end_s"]].values.tolist() == [[0, 10], [0, 10], [10, 20], [10, 20]]
    assert [tags_of(t) for t in df.tags] == [
        {"phase": "preparation"}, {"instrument": "hook", "verb": "dissect", "target": "gallbladder"},
        {"phase": "calot triangle dissection"},
        {"instrument": "grasper", "verb": "null verb", "target": "null target"}]
    assert set(df.split) == {"val"} and set(df.procedure) == {"laparoscopic cholecystectomy"}
    every = load_cholect50(str(tmp_path), window_s=10, triplets="all")
    assert len(every[(every.task == "action-triplet") & (every.start_s == 0)]) == 3
    clip = read_frame_clip(str(tmp_path / "videos" / "VID01"), 2, 6, num_frames=8, size=(12, 16))
    assert clip.shape == (8, 12, 16, 3) and clip.dtype == np.uint8
    assert clip[:, 0, 0, 0].tolist() == [20, 20, 30, 30, 40, 40, 50, 50]  # seconds 2..5, each twice
    # per-frame feature caches pick the same frames by second, without decoding
    assert pick_frames(range(0, 12), 2, 6, 8).tolist() == [2, 2, 3, 3, 4, 4, 5, 5]
    assert pick_frames([1, 7], 0, 8, 4).tolist() == [1, 1, 7, 7]  # a sparse window repeats its frames
    with pytest.raises(DatasetError, match="no frame image between 20 s and 30 s"):
        pick_frames([1, 7], 20, 30, 4)


def test_cholect50_mismatched_labels_are_errors(tmp_path):
    label_file, data = _cholect_folder(tmp_path, [0, 1], number=7)
    data["annotations"] = {"0": [_label_row(1, 2, 2, 0, 0)]}
    label_file.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"VID01\.json: labels are for video 7, not VID01"):
        load_cholect50(str(tmp_path))
    data["video"], data["annotations"]["5"] = 1, [_label_row(1, 2, 2, 0, 0)]
    label_file.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"VID01\.json: 1 labelled frame\(s\) have no image .*\[5\]"):
        load_cholect50(str(tmp_path))
    data["categories"]["verb"]["3"] = "staple"
    label_file.write_text(json.dumps(data))
    with pytest.raises(DatasetError, match=r"verb categories \['staple'\] are not in the CholecT50 taxonomy"):
        load_cholect50(str(tmp_path))
    label_file.write_text("{not json")
    with pytest.raises(DatasetError, match=r"VID01\.json: not a CholecT50 label file"):
        load_cholect50(str(tmp_path))
    with pytest.raises(DatasetError, match="no frame image between 30 s and 40 s"):
        read_frame_clip(str(tmp_path / "videos" / "VID01"), 30, 40)
    with pytest.raises(DatasetError, match="missing; a CholecT50 folder"):
        load_cholect50(str(tmp_path / "videos"))


def needs_shared(test):
    """The shared CholecT50 copy sits beside the checkout (../shared); without it the test fails, never skips."""
    @functools.wraps(test)
    def run(*args, **kwargs):
        if not os.path.isdir(SHARED_CHOLECT50):
            pytest.fail(f"{SHARED_CHOLECT50} is missing: clone the repository beside shared/ "
                        "(CC BY-NC-SA data, not in the repo)")
        return test(*args, **kwargs)
    return run


@needs_shared
def test_cholect50_shared_copy():
    df = load_cholect50(SHARED_CHOLECT50)
    assert sorted(df.video_id.unique()) == [f"cholect50-VID{n}" for n in (68, 70, 73, 74, 75)]
    phases = {tags_of(t)["phase"] for t in df[df.task == "phase"].tags}
    assert phases == set(cholect50_taxonomy().task("phase").tags["phase"])  # all 7 phases occur
    actions = df[df.task == "action-triplet"].tags.map(lambda t: tuple(tags_of(t).values()))
    assert ("hook", "gallbladder", "dissect") in set(actions)  # tags are sorted: instrument, target, verb
    assert (df.end_s - df.start_s).between(1, 16).all()
    v68 = df[df.video_id == "cholect50-VID68"]
    assert v68.end_s.max() == 1952  # last frame 001951 covers second 1951..1952
    assert len(os.listdir(v68.video_path.iloc[0])) == 266
    with open(os.path.join(SHARED_CHOLECT50, "labels", "VID68.json")) as f:
        assert len(json.load(f)["annotations"]) == 243
    first = v68.sort_values("start_s").iloc[0]
    clip = read_frame_clip(first.video_path, first.start_s, first.end_s)
    assert clip.shape == (16, 224, 224, 3) and clip.dtype == np.uint8 and clip.std() > 10  # real, not blank


@needs_shared
def test_cholect50_shared_copy_with_a_wrong_label_file(tmp_path):
    shutil.copytree(os.path.join(SHARED_CHOLECT50, "videos", "VID70"), tmp_path / "videos" / "VID70")
    os.makedirs(tmp_path / "labels")
    shutil.copy(os.path.join(SHARED_CHOLECT50, "labels", "VID68.json"), tmp_path / "labels" / "VID70.json")
    with pytest.raises(DatasetError, match=r"VID70\.json: labels are for video 68, not VID70"):
        load_cholect50(str(tmp_path))


def test_category_names_follow_the_taxonomy():
    assert category_name("carlot-triangle-dissection") == "calot triangle dissection"
    assert category_name("cystic_plate") == "cystic plate"
    words = cholect50_taxonomy().vocabulary()
    assert "<instrument>" in words and "gallbladder" in words


def test_primary_triplet_prefers_frequent_then_real_verbs():
    from halsted_hf.data.loaders.cholect50 import FrameLabels, primary_triplet

    idle, cut, grasp = ("grasper", "null verb", "null target"), ("scissors", "cut", "cystic duct"), \
        ("grasper", "grasp", "gallbladder")
    frames = [FrameLabels(0, "preparation", [idle]), FrameLabels(1, "preparation", [cut, idle]),
              FrameLabels(2, "preparation", [grasp, cut])]
    assert primary_triplet(frames) == cut  # 2 frames each for idle and cut: the real verb wins the tie
    assert primary_triplet([FrameLabels(0, None, [grasp]), FrameLabels(1, None, [cut])]) == grasp  # first seen
    assert primary_triplet([FrameLabels(0, None, [cut]), FrameLabels(1, None, [grasp])]) == cut
    assert primary_triplet([FrameLabels(0, None, [idle]), FrameLabels(1, None, [idle, grasp])]) == idle
    assert primary_triplet([FrameLabels(0, "preparation")]) is None
