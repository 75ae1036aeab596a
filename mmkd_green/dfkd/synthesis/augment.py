"""Batched, differentiable random views of image tensors (one affine warp per sample).

A view is ``grid_sample(x, affine_grid(θ_i))`` with, per sample ``i``::

    θ_i = [[f_i·s_w, 0, c_x], [0, s_h, c_y]]

where ``f_i ∈ {−1, +1}`` is a horizontal flip, ``(s_w, s_h)`` the crop size as a fraction of the
image and ``(c_x, c_y)`` the crop centre in normalised coordinates ``[−1, 1]``. Outside the image
the view reads zeros, so:

* ``random_crop_flip(x, padding=p)``: ``s = 1`` and an integer shift in ``[−p, p]`` pixels: the
  same images as zero-padding by ``p`` and cropping back (torchvision ``RandomCrop(padding=p)``
  + ``RandomHorizontalFlip``), for a whole batch in one call.
* ``random_resized_crop_flip(x, scale, ratio)``: a crop of area fraction ``a ~ U[scale]`` and
  aspect ratio ``r ~ logU[ratio]`` (clipped to the image), resized back to ``H × W``.

Being differentiable, the same functions serve the KD batches (sampled from the image bank) and
CMI's global/local views (gradients flow back to the generator). The random draws are made on
the images' device (or on ``generator``'s, when one is given), so a CUDA step copies nothing
from the host.
"""
import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F


def _warp(x: torch.Tensor, sw: torch.Tensor, sh: torch.Tensor, cx: torch.Tensor,
          cy: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    n = x.shape[0]
    theta = x.new_zeros(n, 2, 3)
    theta[:, 0, 0] = sw * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = sh
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode='bilinear', padding_mode='zeros', align_corners=False)


def _draw_device(x: torch.Tensor, generator: Optional[torch.Generator]) -> torch.device:
    """Where the random numbers are drawn: ``generator``'s device, else the images'."""
    return generator.device if generator is not None else x.device


def _flips(n, device, dtype, generator, p=0.5):
    where = generator.device if generator is not None else device
    return torch.where(torch.rand(n, generator=generator, device=where) < p, -1.0, 1.0
                       ).to(device, dtype)


def random_crop_flip(x: torch.Tensor, padding: int = 4, flip: bool = True,
                     generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Zero-pad by ``padding``, random crop back to ``H × W``, random horizontal flip."""
    n, _, h, w = x.shape
    where = _draw_device(x, generator)
    dy = torch.randint(-padding, padding + 1, (n,), generator=generator,
                       device=where).to(x.device, x.dtype)
    dx = torch.randint(-padding, padding + 1, (n,), generator=generator,
                       device=where).to(x.device, x.dtype)
    f = _flips(n, x.device, x.dtype, generator) if flip else x.new_ones(n)
    one = x.new_ones(n)
    return _warp(x, one, one, 2 * dx / w, 2 * dy / h, f)


def random_resized_crop_flip(x: torch.Tensor, scale: Sequence[float] = (0.25, 1.0),
                             ratio: Sequence[float] = (3. / 4., 4. / 3.), flip: bool = True,
                             generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Random crop of area ``U[scale]`` and aspect ``logU[ratio]``, resized to ``H × W``."""
    n = x.shape[0]
    where = _draw_device(x, generator)
    area = torch.empty(n, device=where).uniform_(scale[0], scale[1], generator=generator)
    log_r = torch.empty(n, device=where).uniform_(math.log(ratio[0]), math.log(ratio[1]),
                                                  generator=generator)
    r = log_r.exp()
    sw = (area * r).sqrt().clamp(max=1.0)
    sh = (area / r).sqrt().clamp(max=1.0)
    cx = (torch.rand(n, generator=generator, device=where) * 2 - 1) * (1 - sw)
    cy = (torch.rand(n, generator=generator, device=where) * 2 - 1) * (1 - sh)
    f = _flips(n, x.device, x.dtype, generator) if flip else x.new_ones(n)
    to = dict(device=x.device, dtype=x.dtype)
    return _warp(x, sw.to(**to), sh.to(**to), cx.to(**to), cy.to(**to), f.to(**to))


class Normalize:
    """``(x − mean) / std`` per channel, and its inverse; ``mean``/``std`` as sequences.

    The ``(1, C, 1, 1)`` statistics tensors are built once per (device, dtype) and cached: a
    synthesis step normalises several times and must not copy them from the host each time."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        if len(mean) != len(std) or any(s <= 0 for s in std):
            raise ValueError(f'normalisation needs one positive std per mean, got mean={mean}, '
                             f'std={std}')
        self.mean, self.std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        self._cache = {}

    def _stats(self, x):
        key = (x.device, x.dtype)
        if key not in self._cache:
            shape = (1, -1, 1, 1)
            self._cache[key] = (
                torch.as_tensor(self.mean, dtype=x.dtype, device=x.device).view(shape),
                torch.as_tensor(self.std, dtype=x.dtype, device=x.device).view(shape))
        return self._cache[key]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(x)
        return (x - mean) / std

    def inverse(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self._stats(x)
        return x * std + mean

    def clamp_normalized(self, x: torch.Tensor) -> torch.Tensor:
        """Clamp normalised images to the range of valid pixels ``[(0−m)/s, (1−m)/s]``."""
        mean, std = self._stats(x)
        return torch.maximum(torch.minimum(x, (1 - mean) / std), (0 - mean) / std)
