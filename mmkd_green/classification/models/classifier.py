"""A plain image classifier on mmengine's ``BaseModel`` (teacher and student baselines).

``backbone`` is any network returning logits ``(B, C)`` (the CIFAR backbones of this package);
training minimises the cross-entropy ``L = −(1/B) Σ_i log softmax(f(x_i))_{y_i}`` (optionally
label-smoothed). Checkpoints hold ``backbone.*`` keys; the KD classifier stores its student under
the same name, so a KD checkpoint loads into the student's plain config and vice versa.
"""
from typing import List, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement

from mmkd_green.registry import MODELS

CIFAR_MEAN = (125.307, 122.961, 113.8575)   # per-channel, 0..255 scale
CIFAR_STD = (51.5865, 50.847, 51.255)


def stack_labels(data_samples: Optional[List[BaseDataElement]], device) -> torch.Tensor:
    """``gt_label`` of every data sample as a ``(B,)`` int64 tensor on ``device``: stacked on
    the host, then one asynchronous copy per batch."""
    if not data_samples or any('gt_label' not in s for s in data_samples):
        raise ValueError('mode="loss" needs data samples with `gt_label` (end the dataset '
                         'pipeline with dict(type="PackClsInputs"))')
    return torch.stack([s.gt_label.reshape(()) for s in data_samples]).to(device,
                                                                          non_blocking=True)


def pack_predictions(logits: torch.Tensor, data_samples: Optional[List[BaseDataElement]]):
    """Data samples with ``pred_score`` (softmax, ``(C,)``) and ``pred_label`` (0-d) added, on
    the host: one device-to-host copy per batch, so metrics read them without a sync each."""
    scores = F.softmax(logits.detach().float(), dim=1)
    labels = scores.argmax(dim=1)
    scores, labels = torch.cat([scores, labels[:, None].to(scores.dtype)], 1).cpu().split(
        [scores.shape[1], 1], 1)
    labels = labels.squeeze(1).long()
    if data_samples is None:
        data_samples = [BaseDataElement() for _ in range(len(logits))]
    for sample, score, label in zip(data_samples, scores, labels):
        sample.pred_score = score
        sample.pred_label = label
    return data_samples


@MODELS.register_module()
class PlainClassifier(BaseModel):
    """Backbone + cross-entropy; ``forward(inputs, data_samples, mode)`` with mmengine's modes.

    * ``'tensor'``: logits ``(B, C)``;
    * ``'loss'``: ``dict(loss_ce=...)``;
    * ``'predict'``: the data samples with ``pred_score`` / ``pred_label`` (for
      ``ClassificationMetric``).

    Args:
        backbone (dict): config of a network returning logits.
        label_smoothing (float): passed to ``F.cross_entropy``.
        data_preprocessor (dict): defaults to ``ImgDataPreprocessor`` with CIFAR mean/std.

    With ``ClsDataPreprocessor(channels_last=True)`` the network's 4-D weights are kept in
    ``channels_last`` memory format too (NHWC kernels end to end); values, ``state_dict`` keys and
    checkpoints are the same as in the default format.
    """

    def __init__(self, backbone: dict, label_smoothing: float = 0.0,
                 data_preprocessor: Optional[dict] = None, init_cfg=None):
        if data_preprocessor is None:
            data_preprocessor = dict(type='ImgDataPreprocessor', mean=CIFAR_MEAN, std=CIFAR_STD)
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.backbone = MODELS.build(backbone) if isinstance(backbone, dict) else backbone
        self.label_smoothing = float(label_smoothing)
        self.channels_last = bool(getattr(self.data_preprocessor, 'channels_last', False))
        if self.channels_last:
            self.backbone.to(memory_format=torch.channels_last)

    @property
    def num_classes(self) -> Optional[int]:
        return getattr(self.backbone, 'num_classes', None)

    def extract_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.backbone(inputs)

    def loss(self, inputs: torch.Tensor, data_samples) -> dict:
        logits = self.extract_logits(inputs)
        labels = stack_labels(data_samples, logits.device)
        return dict(loss_ce=F.cross_entropy(logits, labels, label_smoothing=self.label_smoothing))

    def predict(self, inputs: torch.Tensor, data_samples=None):
        return pack_predictions(self.extract_logits(inputs), data_samples)

    def forward(self, inputs: torch.Tensor, data_samples=None,
                mode: str = 'tensor') -> Union[dict, list, torch.Tensor]:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.extract_logits(inputs)
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")
