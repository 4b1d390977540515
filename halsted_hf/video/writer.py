"""Write RGB frames to a real H.264 MP4 by piping raw frames into ffmpeg.

`VideoWriter` (constant rate, raw frames piped into ffmpeg) is used by the synthetic surgery generator;
`TimedVideoWriter` (each frame at its own timestamp, PyAV's libx264) by overlay rendering. The file appears only
when the video is complete: frames go to a temp file next to the target, renamed on success and deleted on
any error, so a crash never leaves a half-written video behind.

    with VideoWriter("out.mp4", fps=8, size=(160, 120)) as w:
        for frame in frames:          # uint8 arrays of shape (H, W, 3), RGB
            w.write(frame)
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from fractions import Fraction
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ..core.errors import HalstedError
from ..core.io import commit, discard, ffmpeg_exe, temp_path_for




class VideoWriter:
    """Encode frames as H.264 (yuv420p, +faststart) MP4.

    Args:
        path: output file (.mp4); its folder is created if needed.
        fps: frames per second (int, float or Fraction, e.g. Fraction(30000, 1001)).
        size: (width, height) in pixels; both must be even (yuv420p subsamples chroma 2x2).
        crf, preset: x264 quality and speed (lower crf = better quality, larger file).
        threads: x264 threads. The default 1 makes the output byte-identical for identical frames
            (multi-threaded x264 is not guaranteed deterministic) and suits one writer per core.
        extra_args: more ffmpeg output options, inserted before the output path.
    """

    def __init__(self, path: str, fps: Union[int, float, Fraction], size: Tuple[int, int], crf: int = 23,
                 preset: str = "veryfast", threads: int = 1, extra_args: Sequence[str] = ()):
        width, height = (int(size[0]), int(size[1]))
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"video size must be positive and even (yuv420p), got {width}x{height}")
        if float(fps) <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = str(path)
        self.fps = fps
        self.size = (width, height)
        self.crf, self.preset, self.threads = int(crf), str(preset), int(threads)
        self.extra_args = list(extra_args)
        self.frames_written = 0
        self._proc: Optional[subprocess.Popen] = None
        self._tmp: Optional[str] = None
        self._log = None

    # ---- life cycle -----------------------------------------------------------------------------
    def _command(self) -> List[str]:
        w, h = self.size
        rate = str(Fraction(self.fps).limit_denominator(100000)) if not isinstance(self.fps, int) else str(self.fps)
        return [
            ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", rate, "-i", "-",
            "-an", "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), "-pix_fmt", "yuv420p",
            "-threads", str(self.threads), "-movflags", "+faststart",
            # no encoder version strings or timestamps in the file: same frames -> same bytes
            "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:v", "+bitexact",
            *self.extra_args, "-f", "mp4", self._tmp,
        ]

    def open(self) -> "VideoWriter":
        if self._proc is not None:
            return self
        self._tmp = temp_path_for(self.path)  # beside the destination (its folder is created)
        # stderr to a file, not a pipe: a chatty ffmpeg can never block on a full pipe
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(self._command(), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=self._log)
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one frame: uint8 array of shape (H, W, 3), RGB."""
        w, h = self.size
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != (h, w, 3):
            shape = getattr(frame, "shape", None)
            dtype = getattr(frame, "dtype", type(frame).__name__)
            self.abort()
            raise ValueError(f"frame must be a uint8 array of shape {(h, w, 3)} (H, W, RGB); got {shape} {dtype}")
        self.open()
        try:
            self._proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            message = self._stderr()
            self.abort()
            raise HalstedError(f"ffmpeg stopped while writing {self.path}: {message}")
        self.frames_written += 1

    def close(self) -> str:
        """Finish encoding and move the file into place; returns its path."""
        if self._proc is None:
            if self.frames_written == 0:
                raise ValueError(f"no frames were written to {self.path}; a video needs at least one frame")
            return self.path
        self._proc.stdin.close()
        rc = self._proc.wait()
        if rc != 0 or self.frames_written == 0:
            message = self._stderr() if rc else "no frames were written"
            self.abort()
            raise HalstedError(f"ffmpeg could not encode {self.path} (exit {rc}): {message}")
        commit(self._tmp, self.path)
        self._cleanup()
        return self.path

    def abort(self) -> None:
        """Stop ffmpeg and delete the partial file; the target path is left untouched."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            try:
                self._proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            self._proc.wait()
        if self._tmp:
            discard(self._tmp)
        self._cleanup()

    def _stderr(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        text = self._log.read().decode("utf-8", "replace").strip()
        return text.splitlines()[-1] if text else "no message"

    def _cleanup(self) -> None:
        self._proc, self._tmp = None, None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "VideoWriter":
        return self.open()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_video(path: str, frames, fps, **kwargs) -> str:
    """Write an iterable of (H, W, 3) uint8 frames; the size is taken from the first frame."""
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError(f"no frames to write to {path}")
    with VideoWriter(path, fps, size=(first.shape[1], first.shape[0]), **kwargs) as writer:
        writer.write(first)
        for frame in it:
            writer.write(frame)
    return path


class TimedVideoWriter:
    """Encode frames as H.264 (yuv420p, +faststart) MP4, each at the time it is given: a variable-rate
    source stays variable-rate and a gap stays a gap (the overlay must line up with its source frame
    for frame). Encoded in-process with PyAV's libx264, since a raw-frame pipe into ffmpeg carries no
    timestamps. Same file discipline as VideoWriter: a temp file renamed into place when complete.

    Args:
        path: output file (.mp4); its folder is created if needed.
        size: (width, height), both even.
        time_base: the unit of the `pts` given to `write` (e.g. the source stream's time base).
        crf, preset, threads: as for VideoWriter.
        bitexact: write no encoder version tag into the container (a de-identified copy names nothing).
    """

    def __init__(self, path: str, size: Tuple[int, int], time_base: Fraction, crf: int = 23,
                 preset: str = "veryfast", threads: int = 1, bitexact: bool = False):
        width, height = (int(size[0]), int(size[1]))
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise ValueError(f"video size must be positive and even (yuv420p), got {width}x{height}")
        self.path, self.size, self.time_base = str(path), (width, height), Fraction(time_base)
        self.options = {"crf": str(int(crf)), "preset": str(preset)}
        self.threads = int(threads)
        self.container_options = {"movflags": "+faststart", **({"fflags": "+bitexact"} if bitexact else {})}
        self.frames_written = 0
        self._last_pts: Optional[int] = None
        self._container = self._stream = self._tmp = None

    def open(self) -> "TimedVideoWriter":
        import av

        if self._container is not None:
            return self
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".mp4", dir=folder)
        os.close(fd)
        try:
            self._container = av.open(self._tmp, "w", format="mp4", options=self.container_options)
            stream = self._container.add_stream("libx264", options=self.options)
            stream.width, stream.height = self.size
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = self.time_base
            stream.time_base = self.time_base
            stream.codec_context.thread_count = self.threads
            self._stream = stream
        except Exception as err:  # noqa: BLE001  (libx264 missing from this PyAV build, disk full, ...)
            self.abort()
            raise HalstedError(f"could not start writing {self.path}: {err}") from err
        return self

    def write(self, frame: np.ndarray, pts: Optional[int] = None) -> None:
        """Append one frame (uint8 (H, W, 3) RGB) shown from `pts` (in time_base units). Timestamps must
        grow: one that does not (or None) is placed one unit after the previous frame."""
        import av

        w, h = self.size
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.shape != (h, w, 3):
            self.abort()
            raise ValueError(f"frame must be a uint8 array of shape {(h, w, 3)} (H, W, RGB); "
                             f"got {getattr(frame, 'shape', None)} {getattr(frame, 'dtype', type(frame).__name__)}")
        self.open()
        if pts is None or (self._last_pts is not None and pts <= self._last_pts):
            pts = 0 if self._last_pts is None else self._last_pts + 1
        out = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        out.pts, out.time_base = int(pts), self.time_base
        try:
            for packet in self._stream.encode(out):
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as err:
            self.abort()
            raise HalstedError(f"could not write {self.path}: {err}") from err
        self._last_pts = int(pts)
        self.frames_written += 1

    def close(self) -> str:
        """Finish encoding and move the file into place; returns its path."""
        import av

        if self.frames_written == 0:
            self.abort()
            raise ValueError(f"no frames were written to {self.path}; a video needs at least one frame")
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        except (av.FFmpegError, OSError) as err:
            self.abort()
            raise HalstedError(f"could not finish {self.path}: {err}") from err
        self._container = None
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self._tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give it a normal file's mode
        os.replace(self._tmp, self.path)
        self._tmp = None
        return self.path

    def abort(self) -> None:
        """Delete the partial file; the target path is left untouched."""
        if self._container is not None:
            try:
                self._container.close()
            except Exception:  # noqa: BLE001  (closing a half-written file may fail; it is deleted anyway)
                pass
            self._container = None
        if self._tmp and os.path.exists(self._tmp):
            os.remove(self._tmp)
        self._tmp = None
