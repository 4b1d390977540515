"""Video input layer on real files made with ffmpeg: probing, errors, frame selection by timestamp
(CFR, VFR), rotation, odd sizes, truncation, the parallel decoder and window plans.

Most test videos carry their frame index in their brightness (luma = 16 + index, lossless H.264), so
a decoded frame says exactly which source frame it is.
"""

from __future__ import annotations

import math
import subprocess

import numpy as np
import pytest

from halsted_hf.core.errors import VideoError
from halsted_hf.core.io import ffmpeg_exe
from halsted_hf.video import (
    TruncatedVideoError,
    TruncatedVideoWarning,
    clip_timestamps,
    iter_windows,
    parallel_iter_windows,
    plan_chunks,
    plan_windows,
    probe_video,
    read_clip,
    validate_video,
)

FPS = 25


def ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", *args], check=True)


def index_source(duration_s: float, size: str = "96x64") -> list:
    # Each frame's luma is 16 + its index (flat grey, lossless): the decoded brightness names the frame.
    return ["-f", "lavfi", "-i",
            f"color=black:size={size}:rate={FPS}:duration={duration_s},format=yuv420p,geq=lum='16+N':cb=128:cr=128"]


LOSSLESS = ["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p", "-g", str(FPS)]


@pytest.fixture(scope="session")
def videos(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("videos")
    v = {k: d / f"{k}.mp4" for k in ("cfr", "vfr", "mark", "rotated", "odd", "truncated", "header_only", "with_audio")}
    ffmpeg(*index_source(8), *LOSSLESS, "-movflags", "+faststart", str(v["cfr"]))
    # 25 fps for 2 s, then 5 fps: frame N at N/25 s (N < 50), 2 + (N - 50) / 5 s after.
    ffmpeg(*index_source(4), "-vf", "setpts='if(lt(N,50),N,50+(N-50)*5)'", "-fps_mode", "passthrough", *LOSSLESS,
           str(v["vfr"]))
    # Left half white: shows which way a rotation turned the picture.
    ffmpeg("-f", "lavfi", "-i", f"color=black:size=96x64:rate={FPS}:duration=2",
           "-vf", "drawbox=x=0:y=0:w=48:h=64:color=white:t=fill", *LOSSLESS, str(v["mark"]))
    ffmpeg("-i", str(v["mark"]), "-c", "copy", "-metadata:s:v", "rotate=90", str(v["rotated"]))
    if probe_video(v["rotated"]).rotation == 0:  # FFmpeg >= 6 ignores the tag; it has -display_rotation
        ffmpeg("-display_rotation", "90", "-i", str(v["mark"]), "-c", "copy", str(v["rotated"]))
    # Odd sizes need 4:4:4 in H.264 (4:2:0 halves the chroma planes).
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size=161x97:rate={FPS}:duration=1", "-c:v", "libx264", "-pix_fmt", "yuv444p",
           str(v["odd"]))
    data = v["cfr"].read_bytes()
    v["truncated"].write_bytes(data[: len(data) // 2])  # header (faststart) + about half of the frames
    moov_end = data.index(b"mdat") + 4  # header, then nothing of the frames
    v["header_only"].write_bytes(data[:moov_end])
    ffmpeg("-f", "lavfi", "-i", f"testsrc=size=96x64:rate={FPS}:duration=2",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=2",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(v["with_audio"]))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(d / "audio_only.mp4"))
    v["audio_only"] = d / "audio_only.mp4"
    (d / "empty.mp4").write_bytes(b"")
    v["empty"] = d / "empty.mp4"
    (d / "notes.mp4").write_text("these are my surgical notes, not a video\n")
    v["text"] = d / "notes.mp4"
    return v


def _mean_rgb(frames: np.ndarray) -> np.ndarray:
    return frames[:, 8:-8, 8:-8, :].reshape(len(frames), -1).mean(axis=1)


@pytest.fixture(scope="session")
def levels(videos) -> np.ndarray:
    """RGB brightness of index 0, 1, 2, ...: frame i of a plain in-order PyAV pass over the CFR video
    (the scaler's rounding of limited-range luma is not a clean formula, so it is looked up)."""
    import av

    with av.open(str(videos["cfr"])) as container:
        means = [f.to_ndarray(format="rgb24")[8:-8, 8:-8].mean() for f in container.decode(video=0)]
    assert len(means) == 200 and np.all(np.diff(means) > 0.5)  # one level per frame
    return np.asarray(means)


def frame_index(frames: np.ndarray, levels: np.ndarray) -> list:
    """Source frame index of each decoded frame of an index video."""
    return [int(np.argmin(np.abs(levels - m))) for m in _mean_rgb(frames)]


def cfr_index(t: float) -> int:
    return int(math.floor(t * FPS + 1e-6))


def vfr_index(t: float) -> int:
    return cfr_index(t) if t < 2 else 50 + int(math.floor((t - 2) * 5 + 1e-6))


# --------------------------------------------------------------------------------------------- probe


def test_probe_cfr(videos):
    info = probe_video(videos["cfr"])
    assert info.duration_s == pytest.approx(8.0, abs=0.05)
    assert info.fps == pytest.approx(25.0)
    assert (info.width, info.height, info.rotation) == (96, 64, 0)
    assert info.num_frames == 200 and info.num_frames_exact
    assert info.codec == "h264" and not info.has_audio and not info.is_variable_frame_rate
    assert info.size_bytes == videos["cfr"].stat().st_size
    assert probe_video(videos["with_audio"]).has_audio


def test_probe_vfr(videos):
    info = probe_video(videos["vfr"])
    assert info.is_variable_frame_rate
    assert info.num_frames == 100
    assert info.duration_s == pytest.approx(11.8, abs=0.1)  # last frame at 11.6 s, then ~1 frame
    assert info.fps == pytest.approx(100 / info.duration_s, rel=0.02)


def test_probe_rotated_reports_display_size(videos):
    info = probe_video(videos["rotated"])
    assert info.rotation in (90, 270)
    assert (info.width, info.height) == (64, 96)


@pytest.mark.parametrize(
    "name, words",
    [
        ("empty", "empty"),
        ("text", "not a video"),
        ("audio_only", "no video stream"),
    ],
)
def test_bad_files_raise_video_error_naming_the_file(videos, name, words):
    with pytest.raises(VideoError) as err:
        probe_video(videos[name])
    message = str(err.value)
    assert words in message and str(videos[name]) in message and "\n" not in message


def test_pyav_fallback_probe_agrees_with_ffprobe(videos, monkeypatch):
    names = ("cfr", "vfr", "rotated", "odd", "with_audio", "truncated")
    with_ffprobe = {n: probe_video(videos[n]) for n in names}
    import halsted_hf.video.probe as probe_module

    monkeypatch.setattr(probe_module.shutil, "which", lambda name: None)  # a machine without ffprobe
    assert {n: probe_video(videos[n]) for n in names} == with_ffprobe
    for name, words in (("text", "not a video"), ("audio_only", "no video stream")):
        with pytest.raises(VideoError, match=words):
            probe_video(videos[name])


def test_missing_file(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        probe_video(tmp_path / "nope.mp4")
    with pytest.raises(VideoError, match="no such file"):
        read_clip(tmp_path / "nope.mp4", 0, 1)


def test_validate_video_rejects_header_without_frames(videos):
    assert validate_video(videos["cfr"]).num_frames == 200
    probe_video(videos["header_only"])  # the header alone parses ...
    with pytest.raises(VideoError, match="decod"):
        validate_video(videos["header_only"])  # ... but no frame decodes


# --------------------------------------------------------------------------------------------- decoding


def test_read_clip_picks_the_frame_on_screen_at_each_instant(videos, levels):
    clip = read_clip(videos["cfr"], 2.0, 3.0, num_frames=16, size=(40, 30))
    assert clip.shape == (16, 40, 30, 3) and clip.dtype == np.uint8  # size is (height, width)
    expected = [cfr_index(t) for t in clip_timestamps(2.0, 3.0, 16)]
    assert frame_index(read_clip(videos["cfr"], 2.0, 3.0, num_frames=16, size=None), levels) == expected
    assert all(50 <= i < 75 for i in expected)


def test_vfr_frames_selected_by_timestamp_not_index(videos, levels):
    end = probe_video(videos["vfr"]).duration_s
    times = clip_timestamps(0.0, end, 16)
    got = frame_index(read_clip(videos["vfr"], 0.0, end, num_frames=16, size=None), levels)
    assert got == [vfr_index(t) for t in times]
    # By index (16 evenly spaced of 100 frames) the first half would come from the first 2 s only.
    assert got != [int(i) for i in np.linspace(0, 99, 16)]


def test_iter_windows_one_pass_in_order(videos, levels):
    plan = plan_windows(8.0, 1.0)
    it = iter_windows(videos["cfr"], plan, num_frames=8, size=None)
    out = list(it)
    assert [k for k, _ in out] == list(range(8))
    for k, frames in out:
        assert frame_index(frames, levels) == [cfr_index(t) for t in clip_timestamps(*plan[k], 8)]
    assert not it.truncated and it.decoded_until_s == pytest.approx(8.0, abs=0.05)
    assert it.frames_decoded == 200  # every frame decoded once, none twice


def test_iter_windows_seeks_over_gaps(videos, levels):
    plan = [(6.0, 7.0), (0.0, 1.0)]  # unsorted on purpose: yielded by start time
    it = iter_windows(videos["cfr"], plan, num_frames=4, size=None, seek_gap_s=1.0)
    out = dict(list(it))
    assert list(dict(list(iter_windows(videos["cfr"], plan, num_frames=4, size=None))).keys()) == [1, 0]
    for k, frames in out.items():
        assert frame_index(frames, levels) == [cfr_index(t) for t in clip_timestamps(*plan[k], 4)]
    # Keyframes every second: the seek skips the 5 s in between.
    assert it.frames_decoded < 100


def test_no_windows_and_early_stop(videos):
    assert list(iter_windows(videos["cfr"], [])) == []
    assert list(parallel_iter_windows(videos["cfr"], [], workers=2)) == []
    with iter_windows(videos["cfr"], plan_windows(8.0, 1.0), num_frames=2, size=(8, 8)) as it:
        first = next(it)
    assert first[0] == 0 and it.frames_decoded < 50  # stopped after the first window
    with pytest.raises(StopIteration):
        next(it)


def test_window_past_the_end_is_an_error(videos):
    with pytest.raises(ValueError, match="past the end"):
        list(iter_windows(videos["cfr"], [(7.0, 9.0)]))
    with pytest.raises(ValueError, match="start < end"):
        iter_windows(videos["cfr"], [(2.0, 1.0)])


def test_rotated_video_comes_out_upright_like_ffmpeg_shows_it(videos, tmp_path):
    clip = read_clip(videos["rotated"], 0.0, 1.0, num_frames=2, size=None)
    assert clip.shape == (2, 96, 64, 3)  # stored 96 wide x 64 high, shown 64 x 96
    # Reference: the ffmpeg CLI's own autorotation of the same file.
    raw = tmp_path / "ref.gray"
    ffmpeg("-i", str(videos["rotated"]), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", str(raw))
    ref = np.frombuffer(raw.read_bytes(), np.uint8).reshape(96, 64)
    ours = clip[0].mean(axis=2)
    white_ref, white_ours = ref > 128, ours > 128
    assert white_ref.mean() == pytest.approx(0.5, abs=0.05)
    assert (white_ref == white_ours).mean() > 0.97
    resized = read_clip(videos["rotated"], 0.0, 1.0, num_frames=2, size=(48, 32))
    assert resized.shape == (2, 48, 32, 3)
    assert (resized[0, :24].mean() > 128) == (ref[:48].mean() > 128)  # same half is white


ORIENTATIONS = {  # name -> ffmpeg options that set the display matrix (ffmpeg >= 6)
    "mirrored": ["-display_hflip"],
    "flipped": ["-display_vflip"],
    "turned-90": ["-display_rotation", "90"],
    "turned-180": ["-display_rotation", "180"],
    "turned-270": ["-display_rotation", "270"],
    "turned-90-mirrored": ["-display_rotation", "90", "-display_hflip"],
    "turned-270-mirrored": ["-display_rotation", "270", "-display_hflip"],
}


PROBED_ROTATION = {"mirrored": 0, "flipped": 180, "turned-90": 90, "turned-180": 180, "turned-270": 270,
                   "turned-90-mirrored": 270, "turned-270-mirrored": 90}


@pytest.fixture(scope="module")
def oriented(tmp_path_factory) -> tuple:
    """Copies of one clip whose display matrices turn and/or mirror it, and that ffmpeg's -display_*
    options need FFmpeg >= 6: the one imageio-ffmpeg (a dependency) ships."""
    import imageio_ffmpeg

    exe = imageio_ffmpeg.get_ffmpeg_exe()
    d = tmp_path_factory.mktemp("oriented")
    src = d / "src.mp4"  # left half white, top band red: every turn and mirror looks different
    subprocess.run([exe, "-v", "error", "-y", "-f", "lavfi", "-i", f"color=black:size=96x64:rate={FPS}:duration=1",
                    "-vf", "drawbox=x=0:y=0:w=48:h=64:color=white:t=fill,drawbox=x=0:y=0:w=96:h=16:color=red:t=fill",
                    "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p", str(src)], check=True)
    out = {}
    for name, options in ORIENTATIONS.items():
        out[name] = d / f"{name}.mp4"
        subprocess.run([exe, "-v", "error", "-y", *options, "-i", str(src), "-c", "copy", str(out[name])], check=True)
    return exe, out


def _ffmpeg_shows(exe, path) -> np.ndarray:
    """The first frame as the ffmpeg CLI shows it (its autorotation applies the whole display matrix)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        w, h = stream.codec_context.width, stream.codec_context.height
    raw = subprocess.run([exe, "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24",
                          "-"], capture_output=True, check=True).stdout
    shape = (w, h, 3) if len(raw) == w * h * 3 and ("90" in path.name or "270" in path.name) else (h, w, 3)
    return np.frombuffer(raw, np.uint8).reshape(shape)


@pytest.mark.parametrize("name", list(ORIENTATIONS))
def test_display_matrix_is_applied_whole_like_ffmpeg_shows_it(oriented, name):
    exe, paths = oriented
    shown = _ffmpeg_shows(exe, paths[name]).astype(int)
    clip = read_clip(paths[name], 0.0, 1.0, num_frames=2, size=None)
    assert clip.shape[1:] == shown.shape
    assert np.abs(clip[0].astype(int) - shown).mean() < 2.0  # same pixels: mirrored back, not turned over
    h, w = shown.shape[:2]
    small = read_clip(paths[name], 0.0, 1.0, num_frames=2, size=(h // 2, w // 2))[0].astype(int)
    assert np.abs(small - shown[::2, ::2]).mean() < 12.0  # resized: the same picture, smaller
    info = probe_video(paths[name])
    assert (info.height, info.width) == (h, w)
    # The turn left after mirroring back (fliplr, then counter-clockwise): a vertical flip is a mirror
    # and a half turn; a mirrored video is no longer called "turned 180" (upside down).
    assert info.rotation == PROBED_ROTATION[name]


def test_odd_size(videos):
    info = probe_video(videos["odd"])
    assert (info.width, info.height) == (161, 97)
    assert read_clip(videos["odd"], 0.0, 1.0, num_frames=3, size=None).shape == (3, 97, 161, 3)
    assert read_clip(videos["odd"], 0.0, 1.0, num_frames=3, size=(33, 17)).shape == (3, 33, 17, 3)


def test_truncated_file_decodes_what_is_there_and_says_where_it_stopped(videos, levels):
    plan = plan_windows(8.0, 1.0)
    assert probe_video(videos["truncated"]).duration_s == pytest.approx(8.0, abs=0.05)  # header says 8 s
    it = iter_windows(videos["truncated"], plan, num_frames=8, size=None)
    with pytest.warns(TruncatedVideoWarning) as caught:
        out = list(it)
    assert it.truncated and 1.0 < it.decoded_until_s < 7.0
    assert caught[0].message.decoded_until_s == it.decoded_until_s
    assert [k for k, _ in out] == list(range(len(out))) and len(out) >= 1
    assert out[-1][0] + 1 <= it.decoded_until_s  # only windows that decoded completely
    assert it.skipped == list(range(len(out), 8))
    for k, frames in out:
        assert frame_index(frames, levels) == [cfr_index(t) for t in clip_timestamps(*plan[k], 8)]
    with pytest.raises(TruncatedVideoError) as err:
        read_clip(videos["truncated"], 7.0, 8.0)
    assert err.value.decoded_until_s == pytest.approx(it.decoded_until_s)
    assert isinstance(err.value, VideoError)


def test_parallel_matches_sequential(videos):
    plan = plan_windows(8.0, 0.5)
    sequential = list(iter_windows(videos["cfr"], plan, num_frames=4, size=(32, 32)))
    it = parallel_iter_windows(videos["cfr"], plan, num_frames=4, size=(32, 32), workers=2, chunk_s=2.0)
    parallel = list(it)
    assert len(it.chunks) == 4
    assert [k for k, _ in parallel] == [k for k, _ in sequential] == list(range(16))
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(parallel, sequential))
    assert not it.truncated


def test_parallel_truncated(videos):
    plan = plan_windows(8.0, 1.0)
    it = parallel_iter_windows(videos["truncated"], plan, num_frames=4, size=(16, 16), workers=2, chunk_s=2.0)
    with pytest.warns(TruncatedVideoWarning):
        out = list(it)
    seq = iter_windows(videos["truncated"], plan, num_frames=4, size=(16, 16), warn=False)
    assert [k for k, _ in out] == [k for k, _ in seq]
    assert it.truncated and it.skipped == seq.skipped
    assert it.decoded_until_s == pytest.approx(seq.decoded_until_s)


# --------------------------------------------------------------------------------------------- keyframes
# With keyframes more than seek_gap_s (10 s) apart, a seek landed on a keyframe still "too far"
# before the target and was repeated forever. 64x48 at 10 fps keeps a minute of video cheap.

KEY_FPS, KEY_DURATION = 10, 60
KEY_WINDOWS = [
    (0.0, 2.5),  # from the first frame
    (7.4, 9.9),  # just before the 10-s keyframe
    (9.95, 12.45),  # across it
    (24.0, 26.5),  # between keyframes, 11.5 s after the last window
    (38.0, 40.5),  # just before the 40-s keyframe (18 s after the 20-s one)
    (40.0, 42.5),  # from a keyframe on, overlapping the previous window
    (57.5, 60.0),  # the end, 15 s on
]


@pytest.fixture(scope="module")
def keyframe_videos(tmp_path_factory) -> dict:
    """keyframe interval (frames, "single" for one keyframe in the whole video) -> path.

    Frame N: luma 16 + N % 200, blue-difference 128 + 8 * (N // 200), lossless: every frame differs."""
    d = tmp_path_factory.mktemp("keyframes")
    src = (f"color=black:size=64x48:rate={KEY_FPS}:duration={KEY_DURATION},format=yuv420p,"
           "geq=lum='16+mod(N\\,200)':cb='128+8*floor(N/200)':cr=128")
    out = {}
    for interval in (1, 100, 200, "single"):
        params = ("keyint=infinite:scenecut=0" if interval == "single"
                  else f"keyint={interval}:min-keyint={interval}:scenecut=0")
        out[interval] = d / f"keyint-{interval}.mp4"
        ffmpeg("-f", "lavfi", "-i", src, "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p",
               "-x264-params", params, str(out[interval]))
    return out


def forward_decode(path) -> tuple:
    """(presentation times, RGB frames) of a plain in-order decode, no seeking: the reference."""
    import av

    times, frames = [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for f in container.decode(stream):
            times.append(float(f.pts * stream.time_base))
            frames.append(f.to_ndarray(format="rgb24"))
    return np.asarray(times), frames


def keyframe_times(path) -> list:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sorted(float(p.pts * stream.time_base) for p in container.demux(stream)
                      if p.is_keyframe and p.pts is not None)


def assert_frames_on_screen(out, windows, reference, num_frames) -> None:
    times, frames = reference
    assert sorted(k for k, _ in out) == list(range(len(windows)))
    for k, clip in out:
        for slot, t in enumerate(clip_timestamps(*windows[k], num_frames)):
            on_screen = int(np.searchsorted(times, t + 1e-6, side="right")) - 1
            assert np.array_equal(clip[slot], frames[on_screen]), (k, slot, t)


def test_keyframe_videos_are_what_the_tests_claim(keyframe_videos):
    assert len(keyframe_times(keyframe_videos[1])) == KEY_FPS * KEY_DURATION
    assert keyframe_times(keyframe_videos[100]) == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    assert keyframe_times(keyframe_videos[200]) == [0.0, 20.0, 40.0]
    assert keyframe_times(keyframe_videos["single"]) == [0.0]
    times, frames = forward_decode(keyframe_videos["single"])
    assert len(frames) == 600 and len({f.tobytes() for f in frames}) == 600


@pytest.mark.timeout(60)
@pytest.mark.parametrize("interval", [1, 100, 200, "single"])
@pytest.mark.parametrize("seek_gap_s", [10.0, 1.0])
def test_long_keyframe_intervals_decode_the_right_frames(keyframe_videos, interval, seek_gap_s):
    path = keyframe_videos[interval]
    it = iter_windows(path, KEY_WINDOWS, num_frames=8, size=None, seek_gap_s=seek_gap_s)
    out = list(it)
    assert_frames_on_screen(out, KEY_WINDOWS, forward_decode(path), 8)
    assert not it.truncated
    # Decoding never goes back over what it decoded: at most the video plus one seek's landing per window.
    assert it.frames_decoded <= KEY_FPS * KEY_DURATION + (len(KEY_WINDOWS) * 200 if interval != "single" else 0)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("interval", [100, 200, "single"])
def test_long_keyframe_intervals_read_clip_far_from_a_keyframe(keyframe_videos, interval):
    path = keyframe_videos[interval]
    reference = forward_decode(path)
    for window in [(38.0, 40.5), (19.0, 21.5), (55.0, 57.5)]:  # 18 s after a keyframe; across one; 15 s after
        clip = read_clip(path, *window, num_frames=4, size=None)
        assert_frames_on_screen([(0, clip)], [window], reference, 4)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("interval", [1, 200, "single"])
def test_long_keyframe_intervals_parallel(keyframe_videos, interval):
    path = keyframe_videos[interval]
    # 5-s chunks start in the middle of 20-s (or whole-video) keyframe intervals.
    it = parallel_iter_windows(path, KEY_WINDOWS, num_frames=8, size=None, workers=2, chunk_s=5.0)
    out = list(it)
    assert len(it.chunks) >= 5
    assert [k for k, _ in out] == list(range(len(KEY_WINDOWS)))
    assert_frames_on_screen(out, KEY_WINDOWS, forward_decode(path), 8)
    assert not it.truncated


@pytest.mark.timeout(60)
def test_a_decoder_that_makes_no_progress_is_an_error_not_a_hang(keyframe_videos, monkeypatch):
    # Fault injection: a demuxer that starts over at the first frame when the data ends (real frames of
    # the real file, looping), so the last sampled instant is never reached.
    import halsted_hf.video.decode as decode

    real = decode._frames

    def looping(container, stream, t, margin, origin, tb, fresh, wanted=None, damaged=None):
        yield from real(container, stream, t, margin, origin, tb, fresh, wanted, damaged)
        while True:
            yield from real(container, stream, 0.0, math.inf, origin, tb, fresh=False, wanted=wanted, damaged=damaged)

    monkeypatch.setattr(decode, "_frames", looping)
    with pytest.raises(VideoError, match="no progress") as err:
        list(iter_windows(keyframe_videos[200], [(59.0, 60.0)], num_frames=16, size=(8, 8)))  # last at 59.97 s
    assert str(keyframe_videos[200]) in str(err.value)


# --------------------------------------------------------------------------------------------- plans


def test_plan_windows():
    assert plan_windows(95.0, 30.0) == [(0.0, 30.0), (30.0, 60.0), (60.0, 90.0)]  # 5 s < 15 s: dropped
    assert plan_windows(100.0, 30.0)[-1] == (60.0, 90.0)  # 10 s < half a window
    assert plan_windows(105.0, 30.0)[-1] == (90.0, 105.0)  # 15 s: kept
    assert plan_windows(100.0, 30.0, min_window_s=10.0)[-1] == (90.0, 100.0)
    assert plan_windows(10.0, 30.0) == [] and plan_windows(10.0, 30.0, min_window_s=1.0) == [(0.0, 10.0)]
    assert plan_windows(60.0, 4.0, start_s=10.0, end_s=22.0) == [(10.0, 14.0), (14.0, 18.0), (18.0, 22.0)]
    assert plan_windows(20.0, 4.0, start_s=10.0, end_s=99.0)[-1] == (18.0, 20.0)  # clipped to the video
    assert len(plan_windows(0.9, 0.3)) == 3  # no float drift: 0.9 / 0.3 is 2.9999...
    with pytest.raises(ValueError):
        plan_windows(10.0, 0.0)


def test_clip_timestamps_are_bin_centres_inside_the_window():
    t = clip_timestamps(30.0, 60.0, 16)
    assert t.shape == (16,) and t[0] == pytest.approx(30.0 + 30 / 32) and t[-1] == pytest.approx(60.0 - 30 / 32)
    assert np.all((t >= 30.0) & (t < 60.0)) and np.allclose(np.diff(t), 30 / 16)
    with pytest.raises(ValueError):
        clip_timestamps(1.0, 1.0, 4)


def test_plan_chunks_bounds_span_and_count():
    plan = plan_windows(600.0, 2.0)
    chunks = plan_chunks(plan, workers=2, chunk_s=60.0, max_windows=20)
    assert [k for c in chunks for k, _ in c] == list(range(300))
    assert all(len(c) <= 20 and c[-1][1][1] - c[0][1][0] <= 60.0 for c in chunks)


# ------------------------------------------------------------------------ speed: shared grid, skipping


def test_skipping_unneeded_frames_gives_the_same_frames_and_decodes_fewer(tmp_path):
    # A camera-like stream (B-frames) sampled sparsely: non-reference frames on screen at no sampled instant
    # are dropped by the decoder, every sampled frame is still the frame on screen.
    from helpers import make_video

    path = make_video(tmp_path / "bframes.mp4", 8.0, rate=30, preset="medium")
    plan = plan_windows(8.0, 2.0)
    exact = iter_windows(path, plan, num_frames=4, size=(24, 32), skip_unneeded=False, threads=1)
    fast = iter_windows(path, plan, num_frames=4, size=(24, 32), skip_unneeded=True, threads=1)
    a, b = dict(exact), dict(fast)
    assert a.keys() == b.keys() == set(range(len(plan)))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert fast.frames_decoded < 0.8 * exact.frames_decoded


def test_shared_grid_puts_stage1_instants_on_stage2_instants():
    from halsted_hf.video.windows import shared_grid_s

    grid = shared_grid_s(2.5, 8)
    stage2 = {round(float(t), 9) for a, b in plan_windows(60.0, 2.5) for t in clip_timestamps(a, b, 8, grid)}
    assert stage2 == {round(float(t), 9) for a, b in plan_windows(60.0, 2.5) for t in clip_timestamps(a, b, 8)}
    for a, b in [(0.0, 30.0), (30.0, 60.0), (27.3, 57.3)]:  # the last: a tail window reaching back
        snapped = clip_timestamps(a, b, 8, grid)
        assert {round(float(t), 9) for t in snapped} <= stage2
        assert np.all(np.abs(snapped - clip_timestamps(a, b, 8)) <= grid / 2 + 1e-9)
        assert np.all((snapped >= a) & (snapped < b)) and np.all(np.diff(snapped) > 0)
