"""The material the out-of-body classifier is trained, validated and tested on. All of it is read at run time
from where it is installed; none of it is copied into the repository.

In the body:
- real laparoscopic frames of a CholecT50 folder (`videos/VIDxx/*.jpg`, CC BY-NC-SA 4.0: a classifier trained on
  them must not be shipped). CholecT50 censored its out-of-body frames as all-black pictures; those are left
  out of the in-body set (they are neither view);
- synthetic surgery frames rendered by `halsted_hf.data.synthetic` (ours, Apache-2.0).

Out of the body (what a camera sees outside the patient: people, faces, rooms, objects, scenes). No operating-
room footage can be had here, so this is real non-surgical photography and video, not an operating room:
- training and validation: the photographs and videos gradio ships in its wheel (Apache-2.0; the `space` extra:
  cheetahs, a lion, a tower, a toy, and three short clips), and the images scikit-image ships in its wheel
  (`skimage/data`: public domain, CC0 or CC-BY, per its data module) that a camera took of people, rooms and
  objects, and its small face set
  (lfw_subset: 25 x 25 close-ups, upscaled);
- held-out test only, never trained on: the sample images and videos of Debian's `opencv-doc` package
  (/usr/share/doc/opencv-doc/examples/data: photographs of people, faces, rooms, buildings, fruit, street scenes,
  and vtest.avi, people walking), scikit-learn's two sample photographs and Matplotlib's sample photographs.

Each still picture is seen as several random crops (scale, aspect, flip, exposure), as a camera moving past it
would, at the classifier's input size.
"""

from __future__ import annotations

import glob
import importlib.util
import os
from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence

import numpy as np

from .out_of_body import IMAGE_SIZE

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".tif", ".tiff", ".bmp")
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".webm")
OPENCV_DOC_DATA = "/usr/share/doc/opencv-doc/examples/data"
# opencv-doc pictures that are drawings, plots or synthetic renders, not something a camera saw
_NOT_CAMERA = ("Blender_Suzanne", "LinuxLogo", "WindowsLogo", "opencv-logo", "digits", "gradient", "alphabet",
               "ellipses", "detect_blob", "pic", "ml.png", "Megamind", "chessboard", "notes", "mask",
               "imageText", "text_", "sudoku", "smarties", "cards", "starry_night", "HappyFish", "graf",
               "aloeGT", "licenseplate", "templ", "tmpl", "box", "data01", "basketball", "rubberwhale")
# scikit-image pictures that are not a camera's view of a room or object: renders, scans, microscopy, a fundus
# photograph (medical, red: not what a camera outside the patient sees), the sky
_SKIMAGE_NOT_CAMERA = ("chessboard", "logo", "phantom", "multipage", "cell", "ihc", "microaneurysms", "retina",
                       "horse", "hubble", "moon", "color", "page")
_BLACK_MEAN = 0.03  # a frame darker than this on average is CholecT50's censoring, not a view


@dataclass
class Item:
    """One picture (or a video frame) of known truth: `out_of_body` 1 or 0; `source` groups what is alike
    (one image file, one video) for the confidence intervals, which resample sources, not frames."""

    frame: np.ndarray  # (IMAGE_SIZE, IMAGE_SIZE, 3) uint8
    out_of_body: int
    source: str


@dataclass
class Material:
    items: List[Item] = field(default_factory=list)

    def add(self, frames, out_of_body: int, source: str) -> None:
        for frame in frames:
            self.items.append(Item(frame, int(out_of_body), source))

    @property
    def frames(self) -> np.ndarray:
        return (np.stack([i.frame for i in self.items]) if self.items
                else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8))

    @property
    def labels(self) -> np.ndarray:
        return np.asarray([i.out_of_body for i in self.items], int)

    @property
    def sources(self) -> List[str]:
        return [i.source for i in self.items]

    def counts(self) -> dict:
        y = self.labels
        return {"in_body_frames": int((y == 0).sum()), "out_of_body_frames": int((y == 1).sum()),
                "sources": len(set(self.sources))}


def resize(picture: np.ndarray, size: int = IMAGE_SIZE) -> np.ndarray:
    from PIL import Image

    img = Image.fromarray(np.ascontiguousarray(picture[..., :3] if picture.ndim == 3 else picture)).convert("RGB")
    return np.asarray(img.resize((size, size), Image.BILINEAR), dtype=np.uint8)


def read_picture(path: str) -> List[np.ndarray]:
    """The RGB frames of an image file (an animated GIF gives each of its frames)."""
    from PIL import Image, ImageSequence

    with Image.open(path) as img:
        return [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(img)]


def crops(picture: np.ndarray, n: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """`n` random views of a still picture: a crop of 30-100% of its area, aspect 3:4 to 4:3, maybe mirrored,
    exposure scaled by 0.7-1.3, resized to the classifier's input."""
    h, w = picture.shape[:2]
    for _ in range(n):
        area = rng.uniform(0.3, 1.0) * h * w
        aspect = rng.uniform(0.75, 1.33)
        ch, cw = min(h, int(round(np.sqrt(area / aspect)))), min(w, int(round(np.sqrt(area * aspect))))
        y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        view = picture[y:y + ch, x:x + cw]
        if rng.random() < 0.5:
            view = view[:, ::-1]
        view = np.clip(resize(view).astype(np.float32) * rng.uniform(0.7, 1.3), 0, 255).astype(np.uint8)
        yield view


def package_folder(package: str, *sub: str) -> Optional[str]:
    """A folder inside an installed package, found without importing it (None when not installed)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = os.path.join(list(spec.submodule_search_locations)[0], *sub)
    return folder if os.path.isdir(folder) else None


def skimage_pictures() -> List[str]:
    folder = package_folder("skimage", "data")
    if not folder:
        return []
    return sorted(p for p in glob.glob(os.path.join(folder, "*")) if p.lower().endswith(IMAGE_EXTENSIONS)
                  and not any(k in os.path.basename(p) for k in _SKIMAGE_NOT_CAMERA))


GRADIO_STILLS = ("media_assets/images/cheetah.jpg", "media_assets/images/cheetah1.jpg",
                 "media_assets/images/groot.jpeg", "media_assets/images/lion.jpg", "media_assets/images/tower.jpg",
                 "test_data/cheetah2.jpg")
GRADIO_VIDEOS = ("media_assets/videos/a.mp4", "media_assets/videos/b.mp4", "media_assets/videos/world.mp4")


def gradio_files(names: Sequence[str]) -> List[str]:
    folder = package_folder("gradio")
    return [p for p in (os.path.join(folder, n) for n in names) if os.path.isfile(p)] if folder else []


def held_out_pictures() -> List[str]:
    """Test-only stills: opencv-doc (Debian), scikit-learn's and Matplotlib's sample photographs."""
    paths = []
    if os.path.isdir(OPENCV_DOC_DATA):
        paths += [p for p in sorted(glob.glob(os.path.join(OPENCV_DOC_DATA, "*")))
                  if p.lower().endswith(IMAGE_EXTENSIONS) and not any(k in os.path.basename(p) for k in _NOT_CAMERA)]
    for package, sub in (("sklearn", ("datasets", "images")), ("matplotlib", ("mpl-data", "sample_data"))):
        folder = package_folder(package, *sub)
        if folder:
            paths += [p for p in sorted(glob.glob(os.path.join(folder, "*.jpg")))]
    return paths


def held_out_videos() -> List[str]:
    """Test-only camera footage: opencv-doc's vtest.avi (people walking) and tree.avi."""
    return [os.path.join(OPENCV_DOC_DATA, n) for n in ("vtest.avi", "tree.avi")
            if os.path.isfile(os.path.join(OPENCV_DOC_DATA, n))]


def video_frames(path: str, every_s: float = 1.0, limit: int = 200) -> List[np.ndarray]:
    """Frames of a video every `every_s` seconds, at the classifier's input size."""
    from ..video.decode import iter_windows
    from ..video.probe import probe_video

    duration = probe_video(path).duration_s
    windows = [(t, t + every_s) for t in np.arange(0.0, max(every_s, duration - every_s), every_s)][:limit]
    return [frames[0] for _, frames in iter_windows(path, windows, 1, (IMAGE_SIZE, IMAGE_SIZE), warn=False)]


def cholect50_videos(folder: str) -> List[str]:
    videos = sorted(d for d in glob.glob(os.path.join(folder, "videos", "*")) if os.path.isdir(d))
    if not videos:
        from ..core.errors import HalstedError

        raise HalstedError(f"{folder} has no videos/VIDxx folders of frames: pass a CholecT50 folder")
    return videos


def cholect50_frames(video_folder: str, every: int = 1) -> List[np.ndarray]:
    """A CholecT50 video's frames (every `every`-th) at the classifier's input size,
    without the censored (black) ones."""
    out = []
    paths = sorted(glob.glob(os.path.join(video_folder, "*.jpg")) + glob.glob(os.path.join(video_folder, "*.png")))
    for path in paths[::every]:
        frame = resize(read_picture(path)[0])
        if frame.mean() / 255.0 >= _BLACK_MEAN:
            out.append(frame)
    return out


def synthetic_frames(videos: int, seed: int, every: int = 8, minutes: float = 0.5) -> List[np.ndarray]:
    """In-body frames of synthetic surgery: every `every`-th frame of `videos` rendered procedures."""
    from ..data.synthetic import VideoRenderer, plan_atlas

    out = []
    for script in plan_atlas(videos, minutes, seed):
        renderer = VideoRenderer(script, size=(320, 240))
        out += [resize(renderer.frame(f)) for f in range(0, script.n_frames, every)]
    return out


def pictures_material(paths: Sequence[str], crops_per_picture: int, seed: int, material: Material,
                      prefix: str = "") -> None:
    """Out-of-body items: `crops_per_picture` views of each still picture
    (an animated GIF's later frames: one each)."""
    rng = np.random.default_rng(seed)
    for path in paths:
        for k, picture in enumerate(read_picture(path)):
            if picture.shape[0] < 16 or picture.shape[1] < 16:
                continue
            n = crops_per_picture if k == 0 else 1
            material.add(crops(picture, n, rng), 1, prefix + os.path.basename(path))


def lfw_faces(limit: int = 100) -> List[np.ndarray]:
    """scikit-image's lfw_subset: its first 100 pictures are faces (25 x 25 grey); upscaled as close-ups."""
    folder = package_folder("skimage", "data")
    path = os.path.join(folder, "lfw_subset.npy") if folder else ""
    if not os.path.isfile(path):
        return []
    faces = np.load(path)[:limit]
    return [resize(np.repeat((np.clip(f, 0, 1) * 255).astype(np.uint8)[..., None], 3, axis=2)) for f in faces]
