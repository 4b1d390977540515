"""The overlay keeps every frame's own time and refuses a timeline made for another video.
Real videos made with ffmpeg, real H.264 out; the timelines are written by hand (no model needed)."""

from __future__ import annotations

import subprocess

import av
import pytest

from halsted_hf.core.errors import HalstedError
from halsted_hf.mapping.segment import Segment
from halsted_hf.mapping.timeline import Timeline
from halsted_hf.video import validate_video
from halsted_hf.video.writer import ffmpeg_exe
from helpers import finish_cli as _finish, start_cli as _start
from helpers import make_video


def make_vfr_video(path):
    """40 frames: 20 at 10 fps (0.0-1.9 s), then 20 at 5 fps (2.0-5.8 s); average 6.9 fps."""
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10",
                    "-frames:v", "40", "-vf", "settb=1/1000,setpts='if(lt(N,20),N*100,N*200-2000)'",
                    "-fps_mode", "passthrough", "-enc_time_base", "1:1000", "-video_track_timescale", "1000",
                    "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    return str(path)


def frame_times(path):
    with av.open(path) as container:
        stream = container.streams.video[0]
        return [float(f.pts * stream.time_base) for f in container.decode(stream)]


def timeline_for(path, video_id=None, duration_s=None):
    path = str(path)
    info = validate_video(path)
    return Timeline(video={"id": video_id or path.rsplit("/", 1)[-1].rsplit(".", 1)[0],
                           "duration_s": info.duration_s if duration_s is None else duration_s, "fps": info.fps},
                    model={"name": "hand-made", "revision": "0"}, workflow="procedure",
                    segments=[Segment(0.0, info.duration_s, 1, "macro-activity", {"step": "suturing"})])


def test_overlay_keeps_each_frames_timestamp(tmp_path):
    from halsted_hf.mapping.overlay import render_overlay

    video = make_vfr_video(tmp_path / "vfr.mp4")
    source = frame_times(video)
    assert source[19:22] == pytest.approx([1.9, 2.0, 2.2])  # the video really is VFR
    out = render_overlay(video, timeline_for(video), str(tmp_path / "overlay.mp4"))
    drawn = frame_times(out)
    # at the average rate frame 39 would sit at 39 / 6.9 = 5.65 s instead of 5.8 s
    assert drawn == pytest.approx(source, abs=0.002)


def test_overlay_refuses_a_timeline_of_another_video(tmp_path):
    from halsted_hf.mapping.overlay import render_overlay

    video = make_video(tmp_path / "case.mp4", 4, size="64x48", gop=20, faststart=True, preset="medium")
    other = make_video(tmp_path / "other.mp4", 4, size="64x48", gop=20, faststart=True, preset="medium")
    (tmp_path / "longer").mkdir()
    longer = make_video(tmp_path / "longer" / "case.mp4", 6, size="64x48", gop=20, faststart=True, preset="medium")
    tl = timeline_for(video).save(str(tmp_path / "case.json"))
    procs = {"id": _start("overlay", other, tl, str(tmp_path / "o1.mp4"), "--no-progress"),
             "duration": _start("overlay", longer, tl, str(tmp_path / "o2.mp4"), "--no-progress"),
             "forced": _start("overlay", other, tl, str(tmp_path / "o3.mp4"), "--no-progress", "--force")}
    for name, needle in (("id", "made for video 'case'"), ("duration", "4.00 s")):
        res = _finish(procs[name])
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert res.returncode == 2 and len(lines) == 1, res.stderr
        assert lines[0].startswith("halsted overlay: error:") and needle in lines[0] and "--force" in lines[0]
    assert _finish(procs["forced"]).returncode == 0 and (tmp_path / "o3.mp4").exists()
    assert not (tmp_path / "o1.mp4").exists() and not (tmp_path / "o2.mp4").exists()
    with pytest.raises(HalstedError, match="--force"):
        render_overlay(other, tl, str(tmp_path / "o4.mp4"))
    render_overlay(other, tl, str(tmp_path / "o4.mp4"), force=True)
