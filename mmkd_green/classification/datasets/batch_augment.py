"""The paper's CIFAR augmentation applied to a whole batch at once, reproducible from (seed, iter).

Per sample ``b`` of a batch of ``H × W`` images, as the per-sample transforms
(``ClsRandomCrop(padding=p)`` → ``ClsRandomFlip(0.5)`` → ``ClsRandomRotate(15)``) draw them::

    dy_b, dx_b ~ U{0, .., 2p}      flip_b ~ Bernoulli(prob)      θ_b ~ U[−deg, deg]

and applies them as the per-sample transforms do::

    crop_b(x, y) = img_b(x' + dx_b − p, y + dy_b − p)   (0 outside the image),
                   x' = W − 1 − x if flip_b else x
    out_b(x, y)  = crop_b( R(−θ_b) · (x − c, y − c) + c )  (0 outside the crop)

with ``R`` the 2-D rotation about the image centre ``c``. Each line is one batched
``grid_sample`` (nearest, zero padding), so the whole augmentation costs two kernels per batch
instead of three Python transforms per image, and the values are exact source pixels (or the
zero fill), as with the per-sample transforms. The sampling runs with autocast disabled: under
``--amp`` the data preprocessor is inside the autocast region, where ``affine_grid`` would build
the grid in fp16/bf16 (a bf16 coordinate has 8 significant bits, so near a pixel boundary the
nearest neighbour changes) and the pixels would no longer be the per-sample transforms'. The draws are a pure function of ``(seed, rank, iteration)``
(``numpy.random.default_rng([seed, rank, iteration])``): a resumed or repeated run sees the same
augmented batches, and runs with the same seed (every τ of a grid) see identical inputs.
"""
import math
from typing import Dict, Optional

import numpy as np
import torch
import torch.nn.functional as F


def draw_params(seed: int, iteration: int, batch_size: int, padding: int = 4,
                flip_prob: float = 0.5, degrees: float = 15.0, rank: int = 0
                ) -> Dict[str, np.ndarray]:
    """The per-sample draws ``dy, dx`` (ints in ``[0, 2p]``), ``flip`` (bool), ``angle`` (deg)."""
    rng = np.random.default_rng([int(seed) % (2 ** 32), int(rank), int(iteration)])
    return dict(dy=rng.integers(0, 2 * padding + 1, batch_size),
                dx=rng.integers(0, 2 * padding + 1, batch_size),
                flip=rng.random(batch_size) < flip_prob,
                angle=rng.uniform(-degrees, degrees, batch_size))


def _thetas(params: Dict[str, np.ndarray], height: int, width: int, padding: int, device):
    """Two ``(B, 2, 3)`` ``F.affine_grid`` matrices (output → input, normalised coordinates).

    Crop + flip: ``u_in = s · u + 2 (dx − p) / W``, ``v_in = v + 2 (dy − p) / H`` with ``s = −1``
    for flipped samples (an exact integer shift of pixel centres). Rotation by ``θ`` about the
    centre: ``(u_in, v_in) = (cos θ · u − sin θ · a · v, sin θ / a · u + cos θ · v)`` with
    ``a = H / W`` (pixel units on non-square images).
    """
    f64 = torch.float64
    rad = torch.as_tensor(np.deg2rad(params['angle']), dtype=f64)
    cos, sin = torch.cos(rad), torch.sin(rad)
    sign = torch.where(torch.as_tensor(params['flip']), -1.0, 1.0).to(f64)
    crop = torch.zeros(len(rad), 2, 3, dtype=f64)
    crop[:, 0, 0] = sign
    crop[:, 1, 1] = 1.0
    crop[:, 0, 2] = 2.0 * (torch.as_tensor(params['dx'], dtype=f64) - padding) / width
    crop[:, 1, 2] = 2.0 * (torch.as_tensor(params['dy'], dtype=f64) - padding) / height
    ar = height / width
    rot = torch.zeros(len(rad), 2, 3, dtype=f64)
    rot[:, 0, 0], rot[:, 0, 1] = cos, -sin * ar
    rot[:, 1, 0], rot[:, 1, 1] = sin / ar, cos
    return (crop.to(device=device, dtype=torch.float32),
            rot.to(device=device, dtype=torch.float32))


def _sample(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode='nearest', padding_mode='zeros', align_corners=False)


def augment_batch(images: torch.Tensor, params: Dict[str, np.ndarray],
                  padding: int = 4) -> torch.Tensor:
    """Apply the drawn crop/flip/rotation to ``images`` ``(B, C, H, W)`` (any float dtype or
    ``uint8``; returned as float32 in the same value range, also inside an autocast region).

    Two nearest-neighbour samplings, as the per-sample transforms do it: the padded crop and
    flip (pixels outside the image become 0), then the rotation of that crop (corners become 0;
    content outside the crop window does not rotate back in).
    """
    if images.ndim != 4:
        raise ValueError(f'augment_batch expects (B, C, H, W) images, got {tuple(images.shape)}')
    _, _, h, w = images.shape
    with torch.autocast(images.device.type, enabled=False):   # fp32 grids: exact pixel picks
        x = images.float()
        crop, rot = _thetas(params, h, w, padding, x.device)
        x = _sample(x, crop)
        if np.any(params['angle'] != 0):
            x = _sample(x, rot)
    return x


class BatchAugment:
    """Callable ``(images, iteration) → augmented images`` with fixed settings and seed.

    Args:
        padding (int): zero padding before the random crop (crop size = image size).
        flip_prob (float): probability of a left-right mirror.
        degrees (float): rotation angle range ``[−degrees, degrees]``.
        seed (int, optional): fixed seed; ``None`` takes ``torch.initial_seed()`` at the first
            call (the run's seed, which mmengine sets before training and again on resume).
    """

    def __init__(self, padding: int = 4, flip_prob: float = 0.5, degrees: float = 15.0,
                 seed: Optional[int] = None):
        if padding < 0 or not 0.0 <= flip_prob <= 1.0 or degrees < 0 or not math.isfinite(degrees):
            raise ValueError(f'BatchAugment: need padding >= 0, flip_prob in [0, 1] and finite '
                             f'degrees >= 0; got padding={padding}, flip_prob={flip_prob}, '
                             f'degrees={degrees}')
        self.padding, self.flip_prob, self.degrees = int(padding), float(flip_prob), float(degrees)
        self.seed = seed

    def __call__(self, images: torch.Tensor, iteration: int, rank: int = 0) -> torch.Tensor:
        if self.seed is None:
            self.seed = int(torch.initial_seed()) % (2 ** 32)
        params = draw_params(self.seed, iteration, images.shape[0], self.padding,
                             self.flip_prob, self.degrees, rank)
        return augment_batch(images, params, self.padding)

    def __repr__(self):
        return (f'{type(self).__name__}(padding={self.padding}, flip_prob={self.flip_prob}, '
                f'degrees={self.degrees}, seed={self.seed})')
