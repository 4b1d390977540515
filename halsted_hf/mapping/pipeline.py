"""The `transformers` pipeline: `pipeline("surgical-video-mapping", model=PATH_OR_HUB_ID)(video_path)` -> Timeline.

    import halsted_hf.mapping.pipeline  # registers the task (importing halsted_hf does it too, when wired in)
    from transformers import pipeline
    mapper = pipeline("surgical-video-mapping", model="path/to/model", device="cpu")
    timeline = mapper("case.mp4", mapping="suturing")

The pipeline is a thin shell over `halsted_hf.mapping.workflow.map_video`: same windows, same batching, same
Timeline as the SDK and `halsted map` for the same model. Pipeline-level `batch_size` (batching of
inputs) does not apply: videos are mapped one by one, their windows batched by `clip_batch_size`.
"""

from __future__ import annotations

from typing import Any, Dict

from transformers import AutoModel
from transformers.pipelines import PIPELINE_REGISTRY
from transformers.pipelines.base import Pipeline

from ..model import HalstedForConditionalGeneration  # noqa: F401  (registers the Auto classes)

TASK = "surgical-video-mapping"
_MAP_KWARGS = ("mapping", "stage1_window_s", "stage2_window_s", "progress", "cancel", "clip_batch_size")


class _CheckedAutoModel(AutoModel):
    """AutoModel whose loading checks a local folder first (its own code, pickle weights, a config that does not
    fit the weights: model/safety.py) and turns an unreadable weights file into a one-line CheckpointError:
    `pipeline()` loads the model itself, before any code of ours runs, through the task's model class."""

    @classmethod
    def from_pretrained(cls, name, *args, **kwargs):
        import os

        from ..model.hub import checkpoint_error
        from ..model.safety import check_folder

        if isinstance(name, (str, os.PathLike)) and os.path.isdir(name):
            check_folder(os.fspath(name), trust_remote_code=kwargs.get("trust_remote_code") is True)
        kwargs["use_safetensors"] = True  # never a pickle, whatever the folder holds
        try:
            return AutoModel.from_pretrained(name, *args, **kwargs)
        except Exception as err:  # noqa: BLE001
            clear = checkpoint_error(str(name), err)
            if clear is None:
                raise
            raise clear from err


class SurgicalVideoMappingPipeline(Pipeline):
    """Video file path -> `halsted_hf.mapping.timeline.Timeline`. Call kwargs: mapping ("procedure" | "suturing" |
    "dissection" | "full", default "suturing"), clip_batch_size (clips per model call, default 32),
    stage1_window_s, stage2_window_s, progress, cancel (as for `map_video`)."""

    _load_processor = True
    _load_tokenizer = False
    _load_image_processor = False
    _load_feature_extractor = False
    _load_video_processor = False

    def __init__(self, *args, device=None, **kwargs):
        from ..model.hub import check_device

        if device is not None:
            check_device(device)  # torch's own error for "bogus" or a missing GPU is a traceback
        super().__init__(*args, device=device, **kwargs)

    def _sanitize_parameters(self, **kwargs):
        unknown = set(kwargs) - set(_MAP_KWARGS)
        if unknown:
            raise TypeError(f"unknown arguments {sorted(unknown)} for {TASK}; use {list(_MAP_KWARGS)}")
        return {}, dict(kwargs), {}

    def preprocess(self, video: Any, **_) -> Dict[str, Any]:
        # Decoding happens inside the workflow (overlapped with the model), not here.
        if not isinstance(video, str) and not hasattr(video, "__fspath__"):
            from ..core.errors import VideoError
            raise VideoError(f"{TASK} takes the path of a video file, got {type(video).__name__}")
        return {"video": str(video)}

    def _forward(self, inputs: Dict[str, Any], mapping: str = "suturing", clip_batch_size: int = 32, **kwargs):
        from .reliability import load, stamp
        from .workflow import map_video
        from .workflow_engine import engine_for

        folder = getattr(self.model, "name_or_path", "") or "in-memory"
        engine = engine_for(self.model, self.processor, folder)
        timeline = map_video(inputs["video"], mapping=mapping, model=engine, device=str(self.device),
                             batch_size=clip_batch_size, **kwargs)
        return {"timeline": stamp(timeline, load(folder))}

    def postprocess(self, outputs: Dict[str, Any], **_):
        return outputs["timeline"]


def register() -> None:
    if TASK not in PIPELINE_REGISTRY.get_supported_tasks():
        PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=SurgicalVideoMappingPipeline,
                                            pt_model=_CheckedAutoModel, type="multimodal")


register()
