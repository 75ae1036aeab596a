"""Classification data preprocessor: batch augmentation, normalisation, memory format, on device.

For a collated batch ``dict(inputs=uint8 (B, C, H, W), data_samples=[...])`` (or a list of
``(C, H, W)`` tensors) it computes::

    x = BatchAugment(inputs, iter)        (training only, when `batch_augment` is set)
    x = (x − mean) / std                  (per channel, on the 0..255 scale)

on the model's device, and returns ``x`` in ``channels_last`` memory format when asked (the
networks then run oneDNN's / cuDNN's NHWC kernels: ~1.75x faster training of the CIFAR networks
on this project's 2-core CPU). The augmentation replaces the per-sample pipeline transforms
(``ClsRandomCrop``/``ClsRandomFlip``/``ClsRandomRotate``): the same draws give the same pixels
(see :mod:`mmkd_green.classification.datasets.batch_augment`), drawn per batch from the run's
seed, the rank and the training iteration (mmengine's ``RuntimeInfoHook`` puts ``iter`` on the
MessageHub), so resumed and repeated runs see identical batches.
"""
from typing import Optional, Sequence

import torch
from mmengine.dist import get_rank
from mmengine.logging import MessageHub
from mmengine.model import BaseDataPreprocessor

from mmkd_green.registry import MODELS
from mmkd_green.utils.memory_format import resolve_channels_last
from ..datasets.batch_augment import BatchAugment


@MODELS.register_module()
class ClsDataPreprocessor(BaseDataPreprocessor):
    """Batch → normalised float tensor (optionally augmented and channels-last) on the device.

    Args:
        mean, std (sequence of float): per-channel statistics on the 0..255 scale.
        batch_augment (dict, optional): ``BatchAugment`` settings, e.g.
            ``dict(padding=4, flip_prob=0.5, degrees=15)`` (the paper's augmentation); applied
            in training only. ``None``: no augmentation here.
        channels_last (bool | 'auto'): return NHWC-strided inputs; the classifiers built with
            this preprocessor convert their networks' weights to match. ``'auto'`` (default):
            channels_last where it is safe, NCHW on an AVX2-only oneDNN CPU, where torch's
            channels_last 1x1 stride-2 weight gradient can hang
            (:func:`mmkd_green.utils.memory_format.resolve_channels_last`); ``True``/``False``
            force a layout.
        non_blocking (bool): asynchronous host → device copy.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float],
                 batch_augment: Optional[dict] = None, channels_last='auto',
                 non_blocking: bool = False):
        super().__init__(non_blocking)
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise ValueError(f'ClsDataPreprocessor: mean and std need one entry per channel and '
                             f'std > 0; got mean={tuple(mean)}, std={tuple(std)}')
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1),
                             persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1),
                             persistent=False)
        self.augment = BatchAugment(**batch_augment) if batch_augment is not None else None
        self.channels_last = resolve_channels_last(channels_last)
        self._calls = 0   # iteration fallback outside a runner

    def _iteration(self) -> int:
        hub = MessageHub.get_current_instance()
        it = hub.get_info('iter') if hub is not None else None
        return int(it) if it is not None else self._calls

    def forward(self, data: dict, training: bool = False) -> dict:
        # only the images go to the device; data samples stay on the host (labels: one copy
        # per batch in `stack_labels`, predictions: one copy per batch in `pack_predictions`)
        inputs = self.cast_data(data['inputs'])
        if isinstance(inputs, (list, tuple)):
            inputs = torch.stack(list(inputs))
        if inputs.ndim != 4 or inputs.shape[1] != self.mean.shape[0]:
            raise ValueError(f'ClsDataPreprocessor expects (B, {self.mean.shape[0]}, H, W) '
                             f'inputs, got {tuple(inputs.shape)}')
        x = inputs.float()
        if training and self.augment is not None:
            x = self.augment(x, self._iteration(), get_rank())
            self._calls += 1
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return dict(inputs=x, data_samples=data.get('data_samples'))
