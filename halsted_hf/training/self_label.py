"""Self-labelling (the paper's atlas v1 -> v2): a trained model maps unlabelled videos and its confident
outputs become atlas rows with `annotation_source = "self-label"`.

How "confident" is decided, per tag: the model's validation videos (videos with human labels that did not
train it) are mapped with the same multi-stage workflow, every output segment is compared with the truth,
and the tag's threshold is the lowest probability at which the segments scoring at least that much reach
the requested precision. Precision counts seconds: a segment's seconds where the truth has the predicted
category are right; its seconds where the truth has another category, or where a video annotated for that
tag has no label of it (a cascaded stage-2 output outside its step), are wrong; seconds outside a video's
annotated span are not counted.

A segment (merged windows with the same tags, `mapping/merging.py`) becomes a row only when every tag the
model gave it clears its tag's threshold: a row with some tags dropped would teach the decoder to skip tags.
Each row records the model id (a hash of the weights), the thresholds and the probabilities (JSON {tag: p}),
`confidence` (the lowest probability) and `content_hash` (the video's content id).

The mapping itself is passed in (`mapper(paths) -> [Timeline]`): training sits beside mapping on its floor
and does not import it (docs/architecture.md); `halsted self-label` wires in `mapping.workflow.map_videos`.

Resuming: OUT's record (`self_label.json` beside the table) lists every video done, by content hash and
model id, and the calibration per model id; a rerun maps only the videos not yet done by this model and
writes the table after every chunk of videos.
"""

from __future__ import annotations

import json
import os
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import pandas as pd

from ..data.atlas import HUMAN_SOURCES, make_row, read_atlas, to_frame, write_atlas
from ..core.errors import CheckpointError, HalstedError

SOURCE = "self-label"
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg")
SELF_LABEL_COLUMNS = ["model_id", "threshold", "probability", "content_hash"]
Mapper = Callable[[Sequence[str]], list]


# ---- inputs -------------------------------------------------------------------------------------------
def find_videos(specs: Iterable[str]) -> List[str]:
    """Video files from folders (their video files, sorted), list files (one path a line, # comments,
    relative to the list) and plain video paths. Raises HalstedError when nothing is found."""
    out: List[str] = []
    specs = list(specs)
    for spec in specs:
        if os.path.isdir(spec):
            out += sorted(os.path.join(spec, n) for n in os.listdir(spec) if n.lower().endswith(VIDEO_EXTENSIONS))
        elif os.path.isfile(spec) and not spec.lower().endswith(VIDEO_EXTENSIONS):
            root = os.path.dirname(os.path.abspath(spec))
            with open(spec, encoding="utf-8") as f:
                lines = [ln.strip() for ln in f if ln.strip() and not ln.strip().startswith("#")]
            for ln in lines:
                path = ln if os.path.isabs(ln) else os.path.join(root, ln)
                if not os.path.isfile(path):
                    raise HalstedError(f"{spec}: listed video {ln!r} does not exist")
                out.append(path)
        elif os.path.isfile(spec):
            out.append(spec)
        else:
            raise HalstedError(f"--videos {spec}: no such folder, list file or video")
    out = list(dict.fromkeys(os.path.abspath(p) for p in out))
    if not out:
        raise HalstedError(f"--videos {' '.join(specs)}: no video found (looked for {', '.join(VIDEO_EXTENSIONS)} "
                           f"files, or a text file listing videos one per line)")
    return out


def check_precision(precision: float) -> float:
    if not (0.0 < float(precision) <= 1.0):
        raise HalstedError(f"--precision {precision}: must be in (0, 1], e.g. 0.9 for 90% of self-labels right")
    return float(precision)


def _json(path: str) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


def validation_truth(model_dir: str, calibration_atlas: Optional[str] = None) -> Tuple[pd.DataFrame, str]:
    """Human-labelled rows of the videos to calibrate on, and where they came from.

    With `calibration_atlas`: all its human-labelled videos. Else the model folder's record of its
    validation videos (training_record.json's "val_videos", or the fold's ../split.json "val") read from
    the run's atlas (../../run.json "atlas"). Raises HalstedError when there is neither."""
    if calibration_atlas:
        df = read_atlas(calibration_atlas)
        where = f"calibration atlas {calibration_atlas}"
    else:
        fold_dir = os.path.dirname(os.path.abspath(model_dir))
        record = _json(os.path.join(model_dir, "training_record.json")) or {}
        split = _json(os.path.join(fold_dir, "split.json")) or {}
        run = _json(os.path.join(os.path.dirname(fold_dir), "run.json")) or {}
        val = record.get("val_videos") or split.get("val") or []
        atlas = run.get("atlas") or (run.get("args") or {}).get("atlas")
        if val and not atlas:  # e.g. a published or bundled model: the record travels, the run folder does not
            raise HalstedError(f"{model_dir}: training_record.json names the model's validation videos "
                               f"({', '.join(map(str, val[:3]))}{', ...' if len(val) > 3 else ''}) but no atlas "
                               f"holding them is known here (no ../../run.json); pass --calibration-atlas ATLAS: "
                               f"those videos' atlas, or any human-labelled videos the model did not train on")
        if not val or not atlas:
            raise HalstedError(f"{model_dir}: no record of the model's validation videos (a `halsted train` fold's "
                               f"best/ folder has one: ../split.json and ../../run.json); pass --calibration-atlas "
                               f"ATLAS with human-labelled videos the model did not train on")
        df = read_atlas(atlas)
        df = df[df["video_id"].astype(str).isin([str(v) for v in val])]
        where = f"validation videos {', '.join(map(str, val))} of {atlas}"
    df = df[df["annotation_source"].isin(HUMAN_SOURCES)]
    if df.empty:
        raise HalstedError(f"{where}: no human-labelled rows to calibrate the thresholds on")
    return df, where


# ---- truth and precision ------------------------------------------------------------------------------
def _union(intervals: Iterable[Tuple[float, float]]) -> List[Tuple[float, float]]:
    out: List[List[float]] = []
    for a, b in sorted(intervals):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def _covered(union: List[Tuple[float, float]], a: float, b: float) -> float:
    return sum(max(0.0, min(b, y) - max(a, x)) for x, y in union)


class VideoTruth:
    """One video's labelled time per tag and category, for scoring segments in seconds."""

    def __init__(self, rows: pd.DataFrame):
        from ..data.atlas import tags_of

        self.span = float(rows["end_s"].max()) if len(rows) else 0.0
        by: Dict[Tuple[str, str], list] = {}
        for r in rows.itertuples(index=False):
            for tag, cat in tags_of(r.tags).items():
                if cat is not None:
                    by.setdefault((tag, cat), []).append((float(r.start_s), float(r.end_s)))
        self.cats = {key: _union(v) for key, v in by.items()}
        self.tags = {tag for tag, _ in by}

    def score(self, tag: str, category: str, a: float, b: float) -> Tuple[float, float]:
        """(right seconds, counted seconds) of predicting `category` for `tag` over [a, b)."""
        if tag not in self.tags:
            return 0.0, 0.0  # this video was never annotated for the tag: unknown, not wrong
        counted = max(0.0, min(b, self.span) - a)
        return min(counted, _covered(self.cats.get((tag, category), []), a, b)), counted


def scored_segments(timeline, truth: VideoTruth) -> List[dict]:
    """One item per (segment, tag): the prediction, its probability, right and counted seconds."""
    out = []
    for seg in timeline.segments:
        for tag, cat in seg.tags.items():
            right, counted = truth.score(tag, cat, seg.start_s, seg.end_s)
            out.append({"tag": tag, "category": cat, "score": float(seg.scores.get(tag, 0.0)), "right_s": right,
                        "counted_s": counted, "task": seg.task, "start_s": seg.start_s, "end_s": seg.end_s})
    return out


def choose_threshold(items: Sequence[dict], target: float) -> dict:
    """The lowest probability t such that the items scoring >= t reach `target` precision (in seconds).
    -> {"threshold": t or None, "precision": reached at t (or the best reachable), "kept_s", "counted_s",
    "segments"}. None when no threshold reaches the target or there is nothing to count."""
    items = sorted((it for it in items if it["counted_s"] > 0), key=lambda it: -it["score"])
    total = sum(it["counted_s"] for it in items)
    best = {"threshold": None, "precision": None, "kept_s": 0.0, "counted_s": round(total, 3), "segments": len(items)}
    right = counted = 0.0
    for i, it in enumerate(items):
        right += it["right_s"]
        counted += it["counted_s"]
        if i + 1 < len(items) and items[i + 1]["score"] == it["score"]:
            continue  # ties go in together: a threshold cannot split them
        precision = right / counted
        if precision >= target - 1e-12:
            best.update(threshold=it["score"], precision=round(precision, 4), kept_s=round(counted, 3))
        elif best["threshold"] is None and (best["precision"] is None or precision > best["precision"]):
            best["precision"] = round(precision, 4)  # the best it gets, reported when the target is out of reach
    return best


def calibrate(timelines: Sequence, truth_rows: pd.DataFrame, video_ids: Sequence[str],
              target: float) -> Dict[str, dict]:
    """{tag: choose_threshold(...)} over the mapped validation videos."""
    items: Dict[str, List[dict]] = {}
    for tl, vid in zip(timelines, video_ids):
        truth = VideoTruth(truth_rows[truth_rows["video_id"].astype(str) == str(vid)])
        for it in scored_segments(tl, truth):
            items.setdefault(it["tag"], []).append(it)
    return {tag: choose_threshold(v, target) for tag, v in sorted(items.items())}


def measured_precision(rows: pd.DataFrame, truth_rows: pd.DataFrame) -> Dict[str, dict]:
    """Precision (seconds) per tag of self-label rows against truth held back from them:
    {tag: {"precision", "right_s", "counted_s", "rows"}}, plus "all" over every tag."""
    from ..data.atlas import tags_of

    acc: Dict[str, List[float]] = {}
    truths = {v: VideoTruth(g) for v, g in truth_rows.groupby(truth_rows["video_id"].astype(str))}
    for r in rows.itertuples(index=False):
        truth = truths.get(str(r.video_id))
        if truth is None:
            continue
        for tag, cat in tags_of(r.tags).items():
            right, counted = truth.score(tag, cat, float(r.start_s), float(r.end_s))
            for key in (tag, "all"):
                a = acc.setdefault(key, [0.0, 0.0, 0])
                a[0] += right
                a[1] += counted
                a[2] += 1
    return {k: {"precision": round(a[0] / a[1], 4) if a[1] else None, "right_s": round(a[0], 2),
                "counted_s": round(a[1], 2), "rows": a[2]} for k, a in sorted(acc.items())}


# ---- rows ---------------------------------------------------------------------------------------------
def _instruction(task: str) -> str:
    from ..model.taxonomy import HALSTED_TAXONOMY

    try:
        return HALSTED_TAXONOMY.task(task).instruction
    except (KeyError, ValueError):
        return task


def label_rows(timeline, video_id: str, video_path: str, thresholds: Dict[str, dict], model_id: str,
               content_hash: str) -> List[dict]:
    """Atlas rows for the segments whose every tag clears its threshold."""
    rows = []
    for seg in timeline.segments:
        if not seg.tags or seg.end_s <= seg.start_s:
            continue
        cut = {tag: (thresholds.get(tag) or {}).get("threshold") for tag in seg.tags}
        if any(t is None or seg.scores.get(tag, 0.0) < t for tag, t in cut.items()):
            continue
        probs = {tag: round(float(seg.scores[tag]), 6) for tag in seg.tags}
        rows.append(make_row(video_id, video_path, seg.start_s, seg.end_s, seg.task, _instruction(seg.task),
                             dict(seg.tags), annotation_source=SOURCE, model_id=model_id,
                             threshold=json.dumps({k: round(v, 6) for k, v in cut.items()}, sort_keys=True),
                             probability=json.dumps(probs, sort_keys=True), confidence=min(probs.values()),
                             content_hash=content_hash, dataset="self-label"))
    return rows


# ---- the command's work -------------------------------------------------------------------------------
def output_paths(out: str) -> Tuple[str, str]:
    """(table, record) of an output atlas: a .parquet/.csv file and <file>.self_label.json beside it, or a
    folder's atlas.parquet and self_label.json."""
    if out.endswith((".parquet", ".csv")):
        return out, os.path.splitext(out)[0] + ".self_label.json"
    return os.path.join(out, "atlas.parquet"), os.path.join(out, "self_label.json")


def _write_json(path: str, obj: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
    os.replace(tmp, path)


def _table(base: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    df = to_frame(base.to_dict("records") + labels.to_dict("records"))
    for col in SELF_LABEL_COLUMNS:  # human rows have none: None, not NaN, so Parquet keeps a string column
        if col in df.columns:
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


def self_label(model_dir: str, videos: Sequence[str], out: str, mapper: Mapper, *, base: Optional[str] = None,
               precision: float = 0.9, calibration_atlas: Optional[str] = None, relabel_human: bool = False,
               chunk: int = 4, log: Callable[[str], None] = print) -> dict:
    """Label `videos` with the model in `model_dir` into the atlas `out` (base rows + self-labels).
    Returns the record written beside it (calibration per tag, videos done)."""
    from ..data.feature_cache import video_key
    from ..model.hub import model_revision

    precision = check_precision(precision)
    from ..model.registry import MODELS, resolve

    if not os.path.isdir(model_dir) and model_dir in MODELS:  # a registered name ("demo") means its folder
        model_dir = resolve(model_dir)
    if not os.path.isdir(model_dir) or not os.path.exists(os.path.join(model_dir, "config.json")):
        raise CheckpointError(f"--model {model_dir}: no saved model there (a folder with config.json, e.g. "
                              f"RUN/fold-0/best from `halsted train`)")
    videos = find_videos(videos)
    model_id = model_revision(model_dir)
    table_path, record_path = output_paths(out)
    record = _json(record_path) or {"calibrations": {}, "videos": {}}
    base_df = read_atlas(base) if base else to_frame([])
    done_df = read_atlas(table_path) if os.path.exists(table_path) else to_frame([])
    labels = done_df[done_df["annotation_source"] == SOURCE].copy()

    # calibration: once per (model, precision, calibration videos); kept in the record for reruns
    truth, where = validation_truth(model_dir, calibration_atlas)
    key = f"{model_id}|{precision}|{where}"
    cal = record["calibrations"].get(model_id)
    if not cal or cal.get("key") != key:
        ids = sorted(truth["video_id"].astype(str).unique())
        paths = [truth[truth["video_id"].astype(str) == v]["video_path"].iloc[0] for v in ids]
        log(f"calibrating on {len(ids)} video(s) ({where}) for precision {precision}")
        tags = calibrate(mapper(paths), truth, ids, precision)
        cal = {"key": key, "source": where, "videos": ids, "precision_target": precision, "tags": tags}
        record["calibrations"][model_id] = cal
        _write_json(record_path, record)
    for tag, c in cal["tags"].items():
        reached = "n/a" if c["precision"] is None else f"{c['precision']:.3f}"
        log(f"  {tag}: threshold {c['threshold'] if c['threshold'] is not None else 'none (target not reached)'} "
            f"precision {reached} over {c['counted_s']:.0f} s of {c['segments']} segments")

    human = base_df[base_df["annotation_source"].isin(HUMAN_SOURCES)]
    human_paths = set(human["video_path"])
    human_hashes = {video_key(p) for p in human_paths if os.path.exists(p)}
    taken_ids = {str(v): p for v, p in zip(base_df["video_id"], base_df["video_path"])}
    todo = []
    for path in videos:
        h = video_key(path)
        prev = record["videos"].get(h)
        if prev and prev.get("model_id") == model_id:
            continue  # done by this model on an earlier run
        if not relabel_human and (path in human_paths or h in human_hashes):
            record["videos"][h] = {"path": path, "model_id": model_id, "status": "skipped: human labels in --base",
                                   "rows": 0}
            log(f"{path}: has human labels in --base; not relabelled (--relabel-human to label it anyway)")
            continue
        vid = os.path.splitext(os.path.basename(path))[0]
        if vid in taken_ids and taken_ids[vid] != path:
            vid = f"{vid}-{h[:8]}"  # another video of the same name is in the atlas
        todo.append((path, h, vid))
    _write_json(record_path, record)
    skipped = len(videos) - len(todo)
    log(f"{len(todo)} video(s) to label, {skipped} already done or skipped")

    for i in range(0, len(todo), max(1, int(chunk))):
        part = todo[i:i + max(1, int(chunk))]
        timelines = mapper([p for p, _, _ in part])
        new = []
        for (path, h, vid), tl in zip(part, timelines):
            rows = label_rows(tl, vid, path, cal["tags"], model_id, h)
            new += rows
            record["videos"][h] = {"path": path, "video_id": vid, "model_id": model_id, "status": "labelled",
                                   "rows": len(rows), "segments": len(tl.segments)}
            log(f"{path}: {len(rows)} of {len(tl.segments)} segments kept as self-labels")
        hashes = {h for _, h, _ in part}
        if "content_hash" in labels.columns:  # an older model's self-labels of these videos are replaced
            labels = labels[~labels["content_hash"].isin(hashes)]
        labels = pd.concat([labels, to_frame(new)], ignore_index=True) if new else labels
        write_atlas(_table(base_df, labels), table_path)
        _write_json(record_path, record)
    if not os.path.exists(table_path) or not todo:
        write_atlas(_table(base_df, labels), table_path)
    record["table"] = os.path.abspath(table_path)
    _write_json(record_path, record)
    return record
