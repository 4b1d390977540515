"""Configuration of EfficientNet-Lite (Lite0/1/2), Halsted's pretrained frame encoder.

EfficientNet-Lite is EfficientNet-B without squeeze-excitation, with ReLU6 and with the stem (32 channels)
and head (1280 channels) kept fixed when the network is scaled (Lite models are made for integer-only
mobile accelerators). Stages are MBConv blocks (k, s, e, out, repeats):
(3,1,1,16,1) (3,2,6,24,2) (5,2,6,40,2) (3,2,6,80,3) (5,1,6,112,3) (5,2,6,192,4) (3,1,6,320,1).
Lite1 and Lite2 widen (x1.0, x1.1) and deepen (x1.1, x1.2) the stages, except the first and last stage's
repeats, and use 240 / 260 px inputs. The weights are Google's TF-Lite checkpoints: TF "SAME" padding,
BatchNorm eps 1e-3, inputs (x - 127) / 128 for x in 0..255.

Used as `HalstedConfig.vision_config`, `num_frames` and `image_size` say what the processor feeds it
(frames per clip, square side); the encoder itself takes any image size.

This file is copied flat next to the weights by `save_pretrained` (the Hub layout): relative imports only.
"""

from __future__ import annotations

import math
from typing import Any

from transformers import AutoConfig, PreTrainedConfig

# (kernel, stride, expansion, output channels, repeats) of EfficientNet-B0 / Lite0's seven stages.
LITE0_STAGES = ((3, 1, 1, 16, 1), (3, 2, 6, 24, 2), (5, 2, 6, 40, 2), (3, 2, 6, 80, 3), (5, 1, 6, 112, 3),
                (5, 2, 6, 192, 4), (3, 1, 6, 320, 1))

# width, depth, native resolution, dropout before the ImageNet classifier
VARIANTS = {"lite0": (1.0, 1.0, 224, 0.2), "lite1": (1.0, 1.1, 240, 0.2), "lite2": (1.1, 1.2, 260, 0.3)}

# The TF-Lite checkpoints' input scaling, written as the processor's mean/std on [0, 1] pixels.
TFLITE_MEAN = (127.0 / 255.0,) * 3
TFLITE_STD = (128.0 / 255.0,) * 3


def round_channels(channels: int, width: float, divisor: int = 8) -> int:
    """EfficientNet's width rounding: scale, round to a multiple of 8, never lose more than 10%."""
    if width == 1.0:
        return channels
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * scaled else rounded


class EfficientNetLiteConfig(PreTrainedConfig):
    r"""
    Args:
        width_coefficient (`float`): channel multiplier of the stages (Lite0/1: 1.0, Lite2: 1.1).
        depth_coefficient (`float`): repeat multiplier of the inner stages (Lite0: 1.0, Lite1: 1.1, Lite2: 1.2).
        stages (`list`): (kernel, stride, expansion, out channels, repeats) per stage, before scaling.
        stem_channels (`int`): stem width (32, never scaled in Lite models).
        hidden_size (`int`): head width, the size of the pooled frame embedding (1280, never scaled).
        batch_norm_eps (`float`), batch_norm_momentum (`float`): BatchNorm settings (TF: eps 1e-3, decay 0.99).
        dropout_rate (`float`): dropout before the ImageNet classifier.
        num_classes (`int`): classifier outputs (1000 ImageNet classes; used only by the classification model).
        image_size (`int`): the side frames are resized to (native: 224 / 240 / 260).
        num_frames (`int`): frames per clip when the encoder is Halsted's vision tower.
        image_mean, image_std: input normalisation on [0, 1] pixels ((x - 127) / 128 on 0..255).
        channels_last (`bool`): run convolutions in channels-last memory format (faster on CPUs).
    """

    model_type = "efficientnet_lite"

    width_coefficient: float = 1.0
    depth_coefficient: float = 1.0
    stages: list | tuple = LITE0_STAGES
    stem_channels: int = 32
    hidden_size: int = 1280
    batch_norm_eps: float = 1e-3
    batch_norm_momentum: float = 0.01
    dropout_rate: float = 0.2
    num_classes: int = 1000
    image_size: int = 224
    num_frames: int = 8
    image_mean: list | tuple = TFLITE_MEAN
    image_std: list | tuple = TFLITE_STD
    channels_last: bool = True
    initializer_range: float = 0.02
    num_hidden_layers: int | None = None

    def __post_init__(self, **kwargs: Any):
        self.stages = [list(s) for s in self.stages]
        if any(len(s) != 5 for s in self.stages):
            raise ValueError("each stage is (kernel, stride, expansion, out channels, repeats)")
        self.image_mean, self.image_std = list(self.image_mean), list(self.image_std)
        self.num_hidden_layers = len(self.block_args())  # MBConv blocks (the model card shows it)
        super().__post_init__(**kwargs)

    def block_args(self) -> list:
        """-> one (kernel, stride, expansion, in channels, out channels) per block, after Lite scaling."""
        blocks, channels = [], self.stem_channels
        last = len(self.stages) - 1
        for i, (k, s, e, out, repeats) in enumerate(self.stages):
            out = round_channels(out, self.width_coefficient)
            if 0 < i < last:  # Lite keeps the first and last stage's repeats fixed
                repeats = int(math.ceil(repeats * self.depth_coefficient))
            for r in range(repeats):
                blocks.append((k, s if r == 0 else 1, e, channels, out))
                channels = out
        return blocks


def efficientnet_lite_config(variant: str = "lite0", **overrides) -> EfficientNetLiteConfig:
    """The config of "lite0" | "lite1" | "lite2" (its native image size unless overridden)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose one of {sorted(VARIANTS)}")
    width, depth, size, dropout = VARIANTS[variant]
    kwargs = dict(width_coefficient=width, depth_coefficient=depth, image_size=size, dropout_rate=dropout)
    kwargs.update(overrides)
    return EfficientNetLiteConfig(**kwargs)


# Registered on import, so that a HalstedConfig naming it as its vision_config resolves it, also as remote code.
AutoConfig.register("efficientnet_lite", EfficientNetLiteConfig, exist_ok=True)

__all__ = ["EfficientNetLiteConfig", "efficientnet_lite_config", "round_channels", "TFLITE_MEAN", "TFLITE_STD"]
