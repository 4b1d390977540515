"""`halsted deidentify` on a real case (tests/deid_video.py): out-of-body stretch removed, face blurred, metadata,
chapter and audio gone, in-body frames kept at PSNR >= 35 dB, original timestamps, playable in chromium; bad
input refused in one line; a stop or a signal leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import deid_video as case
from halsted_hf.deid.report import DeidReport
from halsted_hf.deid.stretches import removed_stretches

REPO = Path(__file__).resolve().parents[1]


def halsted(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "halsted_hf.cli", *map(str, args)], cwd=str(REPO),
                          capture_output=True, text=True, timeout=timeout)


def decoded(path):
    """[(seconds, (H, W, 3) uint8)] of every frame, from the first frame's time."""
    import av

    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = [(f.pts, f.to_ndarray(format="rgb24")) for f in c.decode(s)]
        t0 = frames[0][0]
        return [(float((p - t0) * s.time_base), x) for p, x in frames]


def psnr(a, b) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def sharpness(x) -> float:
    g = x.astype(np.float64).mean(axis=2)
    return float(np.var(g[1:-1, 1:-1] * 4 - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]))


@pytest.fixture(scope="module")
def done(tmp_path_factory, oob_classifier):
    d = tmp_path_factory.mktemp("deid")
    video = case.make_case(d)
    out = d / "copy.mp4"
    run = halsted("deidentify", video, out, "--no-progress")
    assert run.returncode == 0, run.stderr
    return video, out, DeidReport.load(str(d / "copy.deid.json")), run


def test_out_of_body_stretch_is_blanked_and_in_body_frames_kept(done):
    video, out, report, run = done
    a, b = decoded(video), decoded(out)
    assert [round(t, 3) for t, _ in a] == [round(t, 3) for t, _ in b]  # same frames at the original times
    lo, hi = case.OUT_OF_BODY
    covered = [(s, e) for s, e in report.removed_stretches if s < hi and e > lo]
    assert covered and min(s for s, _ in covered) <= lo + 0.25 and max(e for _, e in covered) >= hi - 0.25, report
    kinds = case.case_frames()[1]
    kept_in_body = 0
    for (t, x), (_, y), kind in zip(a, b, kinds):
        if kind == "out":
            assert y.mean() < 12, f"out-of-body frame at {t:.1f} s still shows something (mean {y.mean():.1f})"
        elif kind == "in" and not any(s <= t < e for s, e in report.removed_stretches):
            kept_in_body += 1
            assert psnr(x, y) >= 35.0, f"in-body frame at {t:.1f} s: PSNR {psnr(x, y):.1f} dB"
    # only the padding next to the out-of-body stretch may take in-body frames: at most 1 s of the 5 s
    assert kept_in_body >= 0.8 * kinds.count("in"), report.removed_stretches
    assert "out-of-body stretch" in run.stdout and report.summary() in run.stdout


def test_face_is_blurred_and_the_rest_of_its_frame_kept(done):
    video, out, report, _ = done
    x0, y0, w, h = case.FACE_BOX
    kinds = case.case_frames()[1]
    checked = 0
    for (t, x), (_, y), kind in zip(decoded(video), decoded(out), kinds):
        if kind != "face" or any(s <= t < e for s, e in report.removed_stretches):
            continue
        checked += 1
        core = (slice(y0 + h // 4, y0 + 3 * h // 4), slice(x0 + w // 4, x0 + 3 * w // 4))  # eyes, nose, mouth
        assert sharpness(y[core]) < 0.1 * sharpness(x[core]), f"the face at {t:.1f} s is not blurred"
        assert y.mean() > 30  # kept, not blanked
        rest = np.ones(x.shape[:2], bool)
        rest[: y0 + h + 50, : x0 + w + 50] = False  # the face box, grown
        assert psnr(x[rest], y[rest]) >= 35.0
    assert checked >= 10, f"only {checked} face frames were kept: {report.removed_stretches}"
    assert report.seconds_with_faces >= 1 and report.face_detector["version"].startswith("4.")


def test_no_metadata_chapter_or_audio_survives(done):
    video, out, report, _ = done
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_chapters", "-of",
                            "json", str(out)], capture_output=True, text=True, check=True).stdout
    before = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-show_chapters", "-of",
                             "json", str(video)], capture_output=True, text=True, check=True).stdout
    data = out.read_bytes()
    secrets = [*case.SECRETS.values(), *case.STREAM_SECRETS.values(), case.CHAPTER, "2024-01-02", "+48.58"]
    for secret in secrets:
        assert secret in before or secret.startswith(("2024", "+48")), secret  # the case really carries them
        assert secret not in probe and secret.encode() not in data, f"{secret!r} survived"
    info = json.loads(probe)
    assert [s["codec_type"] for s in info["streams"]] == ["video"] and not info.get("chapters")
    assert info["streams"][0]["codec_name"] == "h264" and info["streams"][0]["pix_fmt"] == "yuv420p"
    assert report.audio_removed
    assert "format:title" in report.metadata_removed and "chapters:1" in report.metadata_removed
    assert not any(secret in report.to_json() for secret in secrets)  # keys are reported, never values


@pytest.mark.browser
def test_copy_plays_in_chromium(done, tmp_path):
    from playwright.sync_api import sync_playwright

    from browser import CHROMIUM, CHROMIUM_ARGS

    _, out, _, _ = done
    page_file = tmp_path / "play.html"
    page_file.write_text(f'<video id="v" muted src="{out.as_uri()}"></video>')
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--allow-file-access-from-files",
                                                                    "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page()
        page.goto(page_file.as_uri())
        page.evaluate("() => document.getElementById('v').play()")
        page.wait_for_function("() => { const v = document.getElementById('v'); "
                               "return v.currentTime > 1.0 && !v.error; }",
                               timeout=30_000)
        assert page.evaluate("() => document.getElementById('v').videoWidth") == case.SIZE[0]
        browser.close()


def test_masks_and_keep_audio(tmp_path, oob_classifier):
    video = case.make_case(tmp_path)
    out = tmp_path / "masked.mp4"
    run = halsted("deidentify", video, out, "--mask", "200,180,120,60", "--keep-audio", "--no-faces",
                  "--threshold", "0.9999999", "--no-progress")
    assert run.returncode == 0, run.stderr
    frames = decoded(out)
    assert all(x[182:238, 202:318].max() < 24 for _, x in frames)  # black (within x264's noise)
    info = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json",
                                      str(out)], capture_output=True, text=True, check=True).stdout)
    assert [s["codec_type"] for s in info["streams"]] == ["video", "audio"]
    assert not any(v in json.dumps(info) for v in [*case.SECRETS.values(), *case.STREAM_SECRETS.values()])


def test_bad_input_is_refused_in_one_line_and_nothing_is_written(tmp_path, oob_classifier):
    from helpers import make_video

    good = make_video(tmp_path / "good.mp4", seconds=2)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n")
    link = tmp_path / "link.mp4"
    link.symlink_to(good)
    cases = [((tmp_path / "missing.mp4", tmp_path / "o1.mp4"), "no such file"),
             ((empty, tmp_path / "o2.mp4"), "empty"),
             ((text, tmp_path / "o3.mp4"), "not a video"),
             ((tmp_path, tmp_path / "o4.mp4"), "not a video file"),
             ((good, good), "is the input video"),
             ((good, tmp_path / "o.mkv"), "must end in .mp4"),
             ((good, link), "is the input video"),
             ((good, tmp_path / "o5.mp4", "--mask", "1,2,3"), "x,y,w,h"),
             ((good, tmp_path / "o6.mp4", "--mask", "500,0,10,10"), "outside"),
             ((good, tmp_path / "o7.mp4", "--classifier", tmp_path), "no out-of-body classifier")]
    for args, words in cases:
        run = halsted("deidentify", *args, "--no-progress")
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2 and len(lines) == 1 and words in lines[0], (args, run.stderr)
        assert "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.mp4", "good.mp4", "link.mp4", "notes.mp4"]
    assert good.stat().st_size > 0  # OUT == VIDEO did not touch it


def test_a_stop_leaves_nothing(tmp_path, oob_classifier):
    """The SDK's stop() in the middle of the writing pass: no copy, no report, no temp file."""
    from halsted_hf.deid.rewrite import DeidStopped, deidentify
    from helpers import make_video

    video = make_video(tmp_path / "in" / "v.mp4", seconds=4)
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 30

    with pytest.raises(DeidStopped):
        deidentify(str(video), str(tmp_path / "out" / "copy.mp4"), report=str(tmp_path / "out" / "r.json"), stop=stop)
    assert len(calls) > 30
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_sigterm_leaves_no_output_and_no_process(tmp_path, oob_classifier):
    from helpers import make_video

    video = make_video(tmp_path / "v.mp4", seconds=60, size="640x360", rate=25)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "halsted_hf.cli", "deidentify", str(video), str(out_dir / "c.mp4"),
                             "--keep-audio", "--no-progress"], cwd=str(REPO), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 50
    while not any(p.name.startswith(".tmp-") for p in out_dir.iterdir()):  # the writing pass has begun
        assert proc.poll() is None and time.monotonic() < deadline, (
            proc.stderr.read() if proc.poll() is not None else "slow")
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM and "nothing was written" in err, err
    assert list(out_dir.iterdir()) == []
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # no process of its group (an ffmpeg child) is left


def test_stretches_keep_a_single_sample_and_pad_it():
    times = np.arange(20) * 0.5 + 0.25
    p = np.zeros(20)
    p[8] = 0.9  # one sample at 4.25 s
    assert removed_stretches(times, p, 0.5, 10.0, 0.5) == [(3.25, 5.25)]  # 1 s at least, then 0.5 s each side
    p[11] = 0.9  # 1.5 s later: within the merge gap, one stretch
    assert removed_stretches(times, p, 0.5, 10.0, 0.5) == [(3.5, 6.5)]
    p[:] = 0.9
    assert removed_stretches(times, p, 0.5, 10.0, 0.5) == [(0.0, 10.0)]  # clipped to the video
    assert removed_stretches(times, np.zeros(20), 0.5, 10.0, 0.5) == []


def test_report_summary_reads_as_the_library_shows_it():
    r = DeidReport(duration_s=3600, removed_stretches=[(0.0, 41.0), (3490.0, 3542.0)],
                   faces_per_second={"7": 2, "8": 1},
                   metadata_removed=["format:title", "format:comment"], audio_removed=True)
    assert r.summary() == ("2 out-of-body stretches removed: 0:00-0:41, 58:10-59:02; faces blurred in 2 s of video "
                           "(at most 2 at once); 2 metadata entries and the audio removed")
    assert DeidReport.from_dict(json.loads(r.to_json())).summary() == r.summary()
