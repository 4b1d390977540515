"""An own atlas: six columns are enough (the rest is derived), and every bad row is one line naming the file
and the row at `halsted features` time, before any clip is encoded."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from helpers import make_tiny_atlas

from halsted_hf.cli import main
from halsted_hf.data.atlas import ATLAS_COLUMNS, read_atlas
from halsted_hf.data.atlas_rows import MINIMAL_COLUMNS

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "docs", "atlas-example.csv")


@pytest.fixture(scope="module")
def minimal_csv(tmp_path_factory):
    """The tiny atlas (3 videos of 4 s) written with the six columns only."""
    root = tmp_path_factory.mktemp("minimal-atlas")
    full = read_atlas(make_tiny_atlas(str(root), seconds=4))
    path = root / "minimal.csv"
    minimal = full[MINIMAL_COLUMNS].assign(video_path=[os.path.basename(p) for p in full["video_path"]])
    minimal.to_csv(path, index=False)
    return str(path), full


def test_the_documented_example_reads_with_every_column_derived():
    df = read_atlas(EXAMPLE)
    assert set(ATLAS_COLUMNS) <= set(df.columns)
    row = df[df["task"] == "proficiency"].iloc[0]
    assert row["instruction"] == "map suturing activity" and row["annotation_source"] == "manual"
    assert (row["procedure"], row["specialty"]) == ("prostatectomy", "urology")  # from its video's macro row


def test_a_six_column_atlas_derives_what_the_full_one_says(minimal_csv):
    path, full = minimal_csv
    df = read_atlas(path)
    for column in ("instruction", "specialty", "procedure", "annotation_source"):
        assert list(df[column]) == list(full[column]), column


def test_a_six_column_atlas_trains(minimal_csv, tmp_path, capsys):
    path, _ = minimal_csv
    out = str(tmp_path / "run")
    assert main(["train", "--atlas", path, "--out", out, "--preset", "tiny", "--folds", "1", "--epochs", "1",
                 "--batch-size", "8"]) == 0
    assert json.load(open(os.path.join(out, "fold-0", "metrics.json")))["done"]


@pytest.mark.parametrize("column, value, says", [
    ("tags", '{"phase": "driving", "proficiency": "superb"}', "'superb' is not a category of tag 'proficiency'"),
    ("tags", '{"phase": "driving", "speed": "fast"}', "has no tag(s) ['speed']"),
    ("tags", "{phase: driving", "tags are not JSON"),
    ("task", "knot tying", "task 'knot tying' is not one of this model's tasks"),
    ("end_s", 99.0, "after its video"),
])
def test_every_bad_row_is_one_line_naming_file_and_row(minimal_csv, tmp_path, capsys, column, value, says):
    path, _ = minimal_csv
    df = pd.read_csv(path)
    row = int(df.index[df["task"] == "proficiency"][1])
    df[column] = df[column].astype(object)
    df.loc[row, column] = value
    bad = os.path.join(os.path.dirname(path), f"bad-{tmp_path.name}.csv")
    df.to_csv(bad, index=False)
    assert main(["features", bad, "--preset", "tiny", "--out", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert bad in err and f"row {row} (video {df.loc[row, 'video_id']})" in err and says in err
    assert not os.path.exists(tmp_path / "cache")  # refused before any clip was encoded


def test_a_task_labelled_only_in_held_out_videos_is_named(minimal_csv):
    from halsted_hf.data.atlas_rows import untrained_tasks

    df = read_atlas(minimal_csv[0])
    only_v2 = df[(df["task"] != "proficiency") | (df["video_id"] == "v2")]
    assert untrained_tasks(only_v2, ["v0", "v1"]) == {"proficiency": ["v2"]}
    assert untrained_tasks(only_v2, ["v0", "v2"]) == {}
