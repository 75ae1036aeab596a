"""PNG grids of synthesized images (``torchvision.utils.save_image``, values in ``[0, 1]``)."""
import math

import torch
from torchvision.utils import save_image


def save_image_grid(images: torch.Tensor, path: str, nrow: int = None) -> str:
    """Save ``(N, C, H, W)`` images in ``[0, 1]`` as one PNG grid (``≈ √N`` per row)."""
    nrow = nrow or max(1, int(math.ceil(math.sqrt(images.shape[0]))))
    save_image(images.detach().float().clamp(0, 1).cpu(), path, nrow=nrow, padding=1)
    return path
