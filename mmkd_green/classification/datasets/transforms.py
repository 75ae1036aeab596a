"""The paper's CIFAR augmentation as OpenMMLab transforms on ``uint8`` CHW tensors.

A pipeline receives ``results = dict(img=Tensor[C, H, W] uint8, gt_label=int, ...)`` from the
classification datasets and ends with :class:`PackClsInputs`, which gives the model's
``dict(inputs=img, data_samples=BaseDataElement(gt_label=...))``. Randomness comes from torch's
generator (seeded per dataloader worker by mmengine).

Paper augmentation: ``ClsRandomCrop(size=32, padding=4)``, ``ClsRandomFlip(prob=0.5)``,
``ClsRandomRotate(degrees=15)``.
"""
from typing import Sequence, Union

import torch
import torchvision.transforms.v2.functional as TF
from mmengine.structures import BaseDataElement
from torchvision.transforms import InterpolationMode

from mmkd_green.registry import TRANSFORMS


def _img(results: dict) -> torch.Tensor:
    img = results.get('img')
    if not isinstance(img, torch.Tensor) or img.ndim != 3:
        raise TypeError('classification transforms expect results["img"] as a CHW tensor (the '
                        f'CIFAR10Pickle / CIFAR100Pickle / TinyImageNet datasets give one), got '
                        f'{type(img).__name__}')
    return img


@TRANSFORMS.register_module()
class ClsRandomCrop:
    """Zero-pad ``padding`` pixels on each side, then crop a random ``size`` window.

    Output pixel ``(y, x) = padded(y + dy, x + dx)`` with ``dy, dx ~ U{0, .., H + 2p − size}``.
    """

    def __init__(self, size: Union[int, Sequence[int]] = 32, padding: int = 4, fill: int = 0):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.padding, self.fill = int(padding), fill

    def __call__(self, results: dict) -> dict:
        img = _img(results)
        if self.padding:
            img = TF.pad(img, [self.padding] * 4, fill=self.fill)
        h, w = img.shape[-2:]
        th, tw = self.size
        if h < th or w < tw:
            raise ValueError(f'ClsRandomCrop: image {h}x{w} (after padding) is smaller than the '
                             f'crop {th}x{tw}; lower `size` or raise `padding`')
        dy = int(torch.randint(0, h - th + 1, ()))
        dx = int(torch.randint(0, w - tw + 1, ()))
        results['img'] = img[:, dy:dy + th, dx:dx + tw]
        return results

    def __repr__(self):
        return f'{type(self).__name__}(size={self.size}, padding={self.padding})'


@TRANSFORMS.register_module()
class ClsRandomFlip:
    """Mirror the image left-right with probability ``prob``."""

    def __init__(self, prob: float = 0.5):
        if not 0.0 <= prob <= 1.0:
            raise ValueError(f'ClsRandomFlip: prob must lie in [0, 1], got {prob}')
        self.prob = prob

    def __call__(self, results: dict) -> dict:
        img = _img(results)
        if float(torch.rand(())) < self.prob:
            results['img'] = img.flip(-1)
        return results

    def __repr__(self):
        return f'{type(self).__name__}(prob={self.prob})'


@TRANSFORMS.register_module()
class ClsRandomRotate:
    """Rotate by an angle ``~ U[-degrees, degrees]`` about the centre; corners get ``fill``."""

    def __init__(self, degrees: float = 15.0, interpolation: str = 'nearest', fill: int = 0):
        if degrees < 0:
            raise ValueError(f'ClsRandomRotate: degrees must be >= 0, got {degrees}')
        self.degrees, self.fill = float(degrees), fill
        self.interpolation = InterpolationMode(interpolation)

    def __call__(self, results: dict) -> dict:
        img = _img(results)
        angle = float(torch.empty(()).uniform_(-self.degrees, self.degrees))
        results['img'] = TF.rotate(img, angle, interpolation=self.interpolation, fill=self.fill)
        return results

    def __repr__(self):
        return f'{type(self).__name__}(degrees={self.degrees})'


@TRANSFORMS.register_module()
class PackClsInputs:
    """``results`` → ``dict(inputs=uint8 CHW tensor, data_samples=BaseDataElement)``.

    The data sample holds ``gt_label`` (a 0-d int64 tensor) and the keys in ``meta_keys`` as
    metainfo.
    """

    def __init__(self, meta_keys: Sequence[str] = ('sample_idx', 'img_path')):
        self.meta_keys = tuple(meta_keys)

    def __call__(self, results: dict) -> dict:
        img = _img(results).contiguous()
        sample = BaseDataElement(metainfo={k: results[k] for k in self.meta_keys if k in results})
        if 'gt_label' in results:
            sample.gt_label = torch.as_tensor(results['gt_label'], dtype=torch.long)
        return dict(inputs=img, data_samples=sample)

    def __repr__(self):
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
