"""Where the dashboard keeps its data, read from the environment once per process.

    HALSTED_DATABASE_URL  SQLAlchemy URL (default: sqlite:///<data_dir>/halsted.db)
    HALSTED_DATA_DIR      uploads, thumbnails, the SQLite file (default: ~/.halsted, else ./.halsted)
    HALSTED_MODEL         a model name (demo, tiny, lite0-imagenet, ...: halsted_hf.model.registry), a local
                          model folder or a Hub id for in-process mapping (default: the bundled demo model)
    HALSTED_SPACE         a Hugging Face Space id or URL running space/app.py: when set, mapping
                          runs there instead of in the worker process
    HALSTED_DEIDENTIFY    0 / false / off: store uploads as they are, without de-identification (default: on;
                          the Library page says which)
    HALSTED_OUT_OF_BODY   the out-of-body classifier folder de-identification uses (default: <data_dir>/out-of-body,
                          built there at the first upload from $HALSTED_CHOLECT50: halsted_hf/deid/out_of_body.py)
    HALSTED_RAY_ADDRESS   a Ray cluster (auto or HOST:PORT): when set (and no Space), mapping runs on a
                          model-holding actor there (halsted_hf.platform.ray_backend; needs the archive extra)
    HALSTED_CLIENT_ADDRESS_HEADER  the header a reverse proxy in front of the dashboard sets to the browser's
                          address (X-Forwarded-For, X-Real-IP, Forwarded): sign-in throttling counts per
                          address (client_address.py); set it only when the proxy is the only way in
    HALSTED_MAX_UPLOAD_MB the largest video an upload may be (default 10000)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

from ..model.registry import folder_or_name

MB = 2**20  # a megabyte as Streamlit's --server.maxUploadSize counts it


def default_data_dir() -> Path:
    """~/.halsted when the home directory is writable (the usual case), else ./.halsted: a
    container with a read-only or missing home still gets a working dashboard."""
    home = Path(os.path.expanduser("~"))
    if home.is_dir() and os.access(home, os.W_OK):
        return home / ".halsted"
    return Path.cwd() / ".halsted"


def default_model() -> str:
    """The bundled demo model's folder (the model registry's "demo"; the registry is torch-free)."""
    return folder_or_name("demo")


@dataclass
class Settings:
    """Configuration of the data layer. Build with `Settings.from_env()`; tests pass fields directly."""

    data_dir: Path = field(default_factory=default_data_dir)
    database_url: Optional[str] = None  # None: the SQLite file inside data_dir
    model: Optional[str] = None  # None: the bundled demo model
    space: Optional[str] = None
    ray_address: Optional[str] = None
    client_address_header: Optional[str] = None
    # Worker timing (seconds). A running job whose heartbeat is older than stale_after_s is
    # treated as abandoned by a dead worker and re-queued.
    heartbeat_s: float = 2.0
    stale_after_s: float = 60.0
    max_attempts: int = 3
    # A running job whose mapping reports no progress for this long is stopped and fails with a message
    # (a stuck decoder must not hold the worker forever; the slowest step, one model batch, takes seconds).
    stall_after_s: float = 600.0
    # The one upload limit (HALSTED_MAX_UPLOAD_MB): the dashboard states it, refuses a larger file before taking
    # any of it, and `halsted serve` gives Streamlit's own uploader the same number.
    max_upload_bytes: int = 10_000 * MB
    # De-identify every upload before it is stored (platform/deid_upload.py): the original never reaches videos/.
    deidentify: bool = True
    out_of_body: Optional[str] = None  # classifier folder; None: $HALSTED_OUT_OF_BODY, else <data_dir>/out-of-body

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'halsted.db'}"
        # A name means the same here as everywhere (the registry): "demo" -> its folder. A folder that is not
        # there (yet) is kept: the dashboard runs and says so until the model is installed.
        self.model = folder_or_name(self.model) if self.model else default_model()
        self.space = self.space or None

    @property
    def max_upload_text(self) -> str:
        """The upload limit as every page and message states it ("10,000 MB": MB as Streamlit counts them)."""
        return f"{self.max_upload_bytes / MB:,.0f} MB"

    @classmethod
    def from_env(cls, env: Optional[Mapping[str, str]] = None, **overrides) -> "Settings":
        env = os.environ if env is None else env
        values = dict(
            data_dir=env.get("HALSTED_DATA_DIR") or default_data_dir(),
            database_url=env.get("HALSTED_DATABASE_URL") or None,
            model=env.get("HALSTED_MODEL") or None,
            space=env.get("HALSTED_SPACE") or None,
            ray_address=env.get("HALSTED_RAY_ADDRESS") or None,
            client_address_header=env.get("HALSTED_CLIENT_ADDRESS_HEADER") or None,
            deidentify=env.get("HALSTED_DEIDENTIFY", "1").strip().lower() not in ("0", "false", "off", "no"),
            out_of_body=env.get("HALSTED_OUT_OF_BODY") or None,
        )
        if env.get("HALSTED_MAX_UPLOAD_MB"):
            values["max_upload_bytes"] = int(float(env["HALSTED_MAX_UPLOAD_MB"]) * MB)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    # Folders under data_dir; created on first use by storage.py.
    @property
    def videos_dir(self) -> Path:
        return self.data_dir / "videos"

    @property
    def thumbnails_dir(self) -> Path:
        return self.data_dir / "thumbnails"

    @property
    def tmp_dir(self) -> Path:
        # Same filesystem as videos_dir, so os.replace of a finished upload is atomic.
        return self.data_dir / "tmp"
