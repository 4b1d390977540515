"""Errors a user can act on. Their message says what was wrong and what to do; the CLI prints it as
one line, the dashboard and the Space show it as is."""


class HalstedError(Exception):
    """Base class: a problem with the user's input or set-up, not a bug."""


class VideoError(HalstedError):
    """A file that is missing, empty, not a video, truncated, audio-only, or too short."""


class TaskError(HalstedError, KeyError):
    """An unknown task, mapping or tag name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class CheckpointError(HalstedError):
    """A model path or Hub id that cannot be loaded."""


class DeviceError(HalstedError):
    """A device name torch does not know, or one this machine does not have (e.g. CUDA on a CPU-only torch)."""


class AtlasError(HalstedError, ValueError):
    """An atlas table that cannot be used; the message names the file and what is wrong."""
