"""The case the de-identification tests share (not a test module): real in-body frames (CholecT50, read at run
time) with a stretch of real non-surgical pictures (scikit-image's), a real face (scikit-image's astronaut) set
into in-body frames, a sine-tone audio track, and metadata in every field a camera or an editor writes, plus a
chapter. Everything the test expects is known from how it was built."""

from __future__ import annotations

import glob
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import CHOLECT50_MINI
from halsted_hf.deid import material
from halsted_hf.core.io import ffmpeg_exe
from halsted_hf.video.writer import write_video

FPS = 10
SIZE = (320, 240)  # W, H
# seconds: in body [0, 3), out of body [3, 5), in body with a face inset [5, 7), in body [7, 9)
OUT_OF_BODY = (3.0, 5.0)
FACE = (5.0, 7.0)
DURATION = 9.0
FACE_BOX = (16, 16, 112, 112)  # x, y, w, h of the inset in the frame
SECRETS = {"title": "Patient Jane Roe", "comment": "MRN 4711-0815", "artist": "Dr Hypothetical Surgeon",
           "creation_time": "2024-01-02T03:04:05Z", "location": "+48.5839+007.7455/", "encoder": "SecretCam 9000"}
STREAM_SECRETS = {"handler_name": "OR-3 Ceiling Cam", "encoder": "SecretCam 9000"}
CHAPTER = "Incision by Dr Hypothetical"


def _in_body_frames():
    folder = os.path.join(CHOLECT50_MINI, "videos", "VID68")
    if not os.path.isdir(folder):
        pytest.fail(f"{CHOLECT50_MINI} is missing: clone the repository beside shared/ "
                    "(CC BY-NC-SA data, not in the repo)")
    from PIL import Image

    out = []
    for path in sorted(glob.glob(os.path.join(folder, "*.jpg")))[40:80]:
        img = np.asarray(Image.open(path).convert("RGB").resize(SIZE, Image.BILINEAR))
        if img.mean() > 20:  # CholecT50's censored frames are black
            out.append(img)
    return out


def _picture(name: str) -> np.ndarray:
    return material.read_picture(next(p for p in material.skimage_pictures() if p.endswith(name)))[0]


def case_frames():
    """(frames, kinds): kinds[i] is 'in', 'out' or 'face'."""
    from PIL import Image

    inside = _in_body_frames()
    outside = [np.asarray(Image.fromarray(_picture(n)).resize(SIZE))
               for n in ("coffee.png", "chelsea.png", "camera.png")]
    astronaut = _picture("astronaut.png")[40:200, 150:290]  # the face, as Haar finds it (177, 67, 93, 93)
    face = np.asarray(Image.fromarray(astronaut).resize(FACE_BOX[2:]))
    frames, kinds = [], []
    for i in range(int(DURATION * FPS)):
        t = i / FPS
        base = inside[(i // 5) % len(inside)].copy()  # each real frame held for half a second
        if OUT_OF_BODY[0] <= t < OUT_OF_BODY[1]:
            frames.append(outside[(i // 7) % len(outside)].copy())
            kinds.append("out")
        elif FACE[0] <= t < FACE[1]:
            x, y, w, h = FACE_BOX
            base[y:y + h, x:x + w] = face
            frames.append(base)
            kinds.append("face")
        else:
            frames.append(base)
            kinds.append("in")
    return frames, kinds


def make_case(folder: Path) -> Path:
    """The case as an MP4 with audio, metadata and a chapter; returns its path."""
    frames, _ = case_frames()
    plain = folder / "plain.mp4"
    write_video(str(plain), frames, FPS, crf=12)
    chapters = folder / "chapters.txt"
    chapters.write_text(f";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=3000\ntitle={CHAPTER}\n")
    out = folder / "case.mp4"
    meta = [a for k, v in SECRETS.items() for a in ("-metadata", f"{k}={v}")]
    meta += [a for k, v in STREAM_SECRETS.items() for a in ("-metadata:s:v:0", f"{k}={v}")]
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-i", str(plain), "-f", "lavfi", "-i",
                    f"sine=frequency=440:duration={DURATION}", "-i", str(chapters), "-map", "0:v", "-map", "1:a",
                    "-map_chapters", "2", *meta, "-fflags", "+bitexact", "-c:v", "copy", "-c:a", "aac",
                    "-shortest", str(out)], check=True)
    return out
