"""The phase datasets' loaders (Cholec80, M2CAI16-workflow, AutoLaparo) on small folders written here in
each dataset's own format: real MP4s made by ffmpeg (25 fps, a few seconds) and label files as released."""

import pytest

from halsted_hf.data.atlas import tags_of
from halsted_hf.data.loaders import (DatasetError, PhaseLabels, autolaparo_taxonomy, cholec80_taxonomy,
                                     load_autolaparo, load_cholec80, load_m2cai16, m2cai16_taxonomy,
                                     read_phase_labels)

from helpers import make_video

TOOL_HEADER = "Frame\tGrasper\tBipolar\tHook\tScissors\tClipper\tIrrigator\tSpecimenBag"


def write_phases(path, runs, header="Frame\tPhase"):
    """runs: [(phase as written in the file, number of frames)] -> one `frame<TAB>phase` row per frame."""
    lines, frame = [header] if header else [], 0
    for phase, n in runs:
        for _ in range(n):
            lines.append(f"{frame}\t{phase}")
            frame += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def write_tools(path, rows):
    """rows: one list of 7 presence values per second -> a Cholec80 tool file (frames 0, 25, 50, ...)."""
    lines = [TOOL_HEADER] + ["\t".join(map(str, [25 * i, *row])) for i, row in enumerate(rows)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def video(path, seconds=6):
    make_video(str(path), seconds, size="64x48", rate=25, pattern="testsrc", codec="mpeg4")


# 6 s at 25 fps: 3 s of preparation, 3 s of Calot triangle dissection; with 2-s windows the middle one is a tie
PHASES_6S = [("Preparation", 75), ("CalotTriangleDissection", 75)]
#            grasper on 0-1 s and 4-5 s, hook on second 0 only (half of window 0: present), the rest absent
TOOLS_6S = [[1, 0, 1, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0], [0] * 7, [0] * 7, [1, 0, 0, 0, 0, 0, 0],
            [1, 0, 0, 0, 0, 0, 0]]


@pytest.fixture(scope="module")
def cholec80_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("cholec80")
    for name in ("video01", "video41"):
        video(root / "videos" / f"{name}.mp4")
        write_phases(root / "phase_annotations" / f"{name}-phase.txt", PHASES_6S)
        write_tools(root / "tool_annotations" / f"{name}-tool.txt", TOOLS_6S)
    return root


def test_cholec80_windows_tools_and_published_splits(cholec80_root):
    df = load_cholec80(str(cholec80_root), window_s=2)
    phase = df[(df.task == "phase") & (df.video_id == "cholec80-video01")].sort_values("start_s")
    assert phase[["start_s", "end_s"]].values.tolist() == [[0, 2], [2, 4], [4, 6]]
    # the middle window holds 25 frames of each phase: the tie goes to the earlier phase
    assert [tags_of(r)["phase"] for _, r in phase.iterrows()] == ["preparation", "preparation",
                                                                   "calot triangle dissection"]
    tools = df[(df.task == "tool-presence") & (df.video_id == "cholec80-video01")].sort_values("start_s")
    tags = [tags_of(r) for _, r in tools.iterrows()]
    assert [t["grasper"] for t in tags] == ["present", "absent", "present"]
    assert [t["hook"] for t in tags] == ["present", "absent", "absent"]
    assert set(tags[0]) == set(cholec80_taxonomy().task("tool-presence").tags)
    assert dict(df.groupby("video_id").split.first()) == {"cholec80-video01": "train", "cholec80-video41": "test"}
    assert set(df.dataset) == {"cholec80"} and set(df.taxonomy) == {"cholec80"}
    only_test = load_cholec80(str(cholec80_root), window_s=2, split_scheme="32/8/40", splits=["test"], tools=False)
    assert set(only_test.video_id) == {"cholec80-video41"} and set(only_test.task) == {"phase"}


def test_cholec80_split_schemes_are_the_published_ones(cholec80_root):
    from halsted_hf.data.loaders.cholec80 import SPLIT_SCHEMES

    assert [len(SPLIT_SCHEMES["40/40"][s]) for s in ("train", "test")] == [40, 40]
    assert [len(SPLIT_SCHEMES["32/8/40"][s]) for s in ("train", "val", "test")] == [32, 8, 40]
    assert 33 in SPLIT_SCHEMES["32/8/40"]["val"] and 41 in SPLIT_SCHEMES["32/8/40"]["test"]
    with pytest.raises(DatasetError, match="published splits"):
        load_cholec80(str(cholec80_root), split_scheme="60/20")
    with pytest.raises(DatasetError, match="has only"):
        load_cholec80(str(cholec80_root), splits=["val"])


def test_cholec80_flat_folder_and_per_frame_labels(tmp_path):
    video(tmp_path / "video02.mp4", 4)
    write_phases(tmp_path / "video02-phase.txt", [("Preparation", 50), ("ClippingCutting", 50)])
    write_tools(tmp_path / "video02-tool.txt", [[0] * 7] * 4)
    assert len(load_cholec80(str(tmp_path), window_s=4)) == 2  # one phase and one tool clip
    labels = read_phase_labels("cholec80", str(tmp_path))["video02"]
    assert len(labels.times_s) == 100 and labels.times_s[1] == pytest.approx(0.04)
    per_second = labels.at_rate(1.0)  # the field scores Cholec80 at 1 fps: frames 0, 25, 50, 75
    assert per_second.times_s.tolist() == [0, 1, 2, 3]
    assert [per_second.phases[i] for i in per_second.phase_ids] == ["preparation", "preparation",
                                                                     "clipping and cutting", "clipping and cutting"]


@pytest.mark.parametrize("content, where, what", [
    ("Frame\tPhase\n0\tPreparation\n1\tPreparation\n2\tTeaBreak\n", "line 4", "not one of this dataset's phases"),
    ("Frame\tPhase\n0\tPreparation\nx\tPreparation\n", "line 3", "not an integer"),
    ("Frame\tPhase\n0\tPreparation\n5\tPreparation\n3\tPreparation\n", "line 4", "must increase"),
    ("Frame\tPhase\n0\tPreparation extra\n", "line 2", "two columns"),
])
def test_cholec80_bad_phase_file_names_file_and_line(tmp_path, content, where, what):
    video(tmp_path / "videos" / "video03.mp4", 1)
    (tmp_path / "phase_annotations").mkdir()
    path = tmp_path / "phase_annotations" / "video03-phase.txt"
    path.write_text(content)
    write_tools(tmp_path / "tool_annotations" / "video03-tool.txt", [[0] * 7])
    with pytest.raises(DatasetError) as err:
        load_cholec80(str(tmp_path))
    assert str(path) in str(err.value) and where in str(err.value) and what in str(err.value)


def test_cholec80_mismatched_files_are_errors(tmp_path):
    video(tmp_path / "videos" / "video04.mp4", 2)
    write_phases(tmp_path / "phase_annotations" / "video04-phase.txt", [("Preparation", 250)])  # 10 s of labels
    write_tools(tmp_path / "tool_annotations" / "video04-tool.txt", [[0] * 7] * 2)
    with pytest.raises(DatasetError, match="does not match its video"):
        load_cholec80(str(tmp_path))
    write_phases(tmp_path / "phase_annotations" / "video04-phase.txt", [("Preparation", 50)])
    tool = tmp_path / "tool_annotations" / "video04-tool.txt"
    tool.write_text(TOOL_HEADER + "\n0\t1\t0\t0\t0\t2\t0\t0\n")
    with pytest.raises(DatasetError, match=rf"{tool}, line 2: expected a frame and 7 values 0/1"):
        load_cholec80(str(tmp_path))
    tool.unlink()
    with pytest.raises(DatasetError, match="video04-tool.txt: no such Cholec80 tool file"):
        load_cholec80(str(tmp_path))
    assert len(load_cholec80(str(tmp_path), tools=False)) == 1
    write_phases(tmp_path / "phase_annotations" / "video99-phase.txt", [("Preparation", 5)])
    with pytest.raises(DatasetError, match="video number 99 is in none of the published splits"):
        load_cholec80(str(tmp_path), tools=False)


def test_m2cai16_folders_are_the_split(tmp_path):
    write_phases(tmp_path / "train_dataset" / "workflow_video_01.txt", [("TrocarPlacement", 50), ("Preparation", 50)])
    video(tmp_path / "train_dataset" / "workflow_video_01.mp4", 4)
    write_phases(tmp_path / "test_dataset" / "test_workflow_video_01.txt", [("GallbladderRetraction", 100)])
    video(tmp_path / "test_dataset" / "test_workflow_video_01.mp4", 4)
    df = load_m2cai16(str(tmp_path), window_s=2)
    train = df[df.video_id == "m2cai16-workflow_video_01"].sort_values("start_s")
    assert [tags_of(r)["phase"] for _, r in train.iterrows()] == ["trocar placement", "preparation"]
    assert dict(df.groupby("video_id").split.first()) == {"m2cai16-workflow_video_01": "train",
                                                          "m2cai16-test_workflow_video_01": "test"}
    assert m2cai16_taxonomy().task("phase").tags["phase"][0] == "trocar placement"
    labels = read_phase_labels("m2cai16", str(tmp_path), splits=["test"])
    assert list(labels) == ["test_workflow_video_01"]
    bad = tmp_path / "test_dataset" / "test_workflow_video_01.txt"
    bad.write_text("Frame\tPhase\n0\tPreparation\n1\tTrocar\n")
    with pytest.raises(DatasetError, match=rf"{bad}, line 3: phase 'Trocar'"):
        load_m2cai16(str(tmp_path))


def test_autolaparo_phase_ids_and_split(tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "label_15.txt").write_text("Frame\tPhase\n" + "".join(
        f"{s}\t{1 if s < 3 else 6}\n" for s in range(6)))
    video(tmp_path / "videos" / "15.mp4", 6)
    df = load_autolaparo(str(tmp_path), window_s=3)
    assert [tags_of(r)["phase"] for _, r in df.sort_values("start_s").iterrows()] == ["preparation", "suturing"]
    assert set(df.split) == {"test"} and set(df.procedure) == {"laparoscopic hysterectomy"}
    assert len(autolaparo_taxonomy().task("phase").tags["phase"]) == 7
    labels = read_phase_labels("autolaparo", str(tmp_path))["15"]
    assert isinstance(labels, PhaseLabels) and labels.times_s.tolist() == [0, 1, 2, 3, 4, 5]
    (tmp_path / "labels" / "label_15.txt").write_text("Frame\tPhase\n0\t1\n1\t8\n")
    with pytest.raises(DatasetError, match=r"label_15.txt, line 3: phase id 8 is not one of 1..7"):
        load_autolaparo(str(tmp_path))
    with pytest.raises(DatasetError, match="AutoLaparo's published split has only"):
        load_autolaparo(str(tmp_path), splits=["validation"])


def test_unknown_phase_dataset_lists_the_known_ones(tmp_path):
    with pytest.raises(DatasetError, match="known: .*autolaparo.*cholec80.*cholect50.*m2cai16"):
        read_phase_labels("cholec81", str(tmp_path))
