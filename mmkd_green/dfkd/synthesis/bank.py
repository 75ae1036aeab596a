"""In-memory bank of synthesized images, replacing upstream's PNG folder + rebuilt DataLoader.

Images in ``[0, 1]`` are stored as ``uint8`` (``round(255·x)``, the same quantisation as writing
a PNG, at a quarter of float32 memory) in one preallocated CPU tensor that grows by doubling.
``max_size=None`` keeps every image (upstream keeps every PNG); an int turns the bank into a
FIFO ring that overwrites the oldest images. Sampling draws indices uniformly with replacement
(upstream shuffles an epoch over all images; both are uniform over the bank).

``state_dict()`` holds only the filled part (on the CPU), so checkpoints grow with the bank, not
its capacity. ``load_state_dict`` puts the images on the bank's own ``device`` (the CPU unless
given), whatever device the checkpoint was mapped to: mmengine resumes with ``map_location`` on
the GPU, and a bank restored there would mix devices with the next round's CPU images.
"""
from typing import Optional

import torch


class ImageBank:
    """Args:
        max_size (int, optional): keep at most this many images (FIFO); ``None``: unbounded.
        device: where the images are stored (default: the CPU).
    """

    def __init__(self, max_size: Optional[int] = None, device='cpu'):
        if max_size is not None and (not isinstance(max_size, int) or max_size < 1):
            raise ValueError(f'ImageBank: `max_size` must be None or an int >= 1, got {max_size!r}')
        self.max_size = max_size
        self.device = torch.device(device)
        self._data: Optional[torch.Tensor] = None   # (capacity, C, H, W) uint8
        self._len = 0          # number of valid images
        self._ptr = 0          # next write position (ring mode)
        self.n_added = 0       # images ever added

    def __len__(self) -> int:
        return self._len

    @property
    def image_shape(self):
        return None if self._data is None else tuple(self._data.shape[1:])

    @staticmethod
    def to_uint8(images: torch.Tensor) -> torch.Tensor:
        """``round(255·clamp(x, 0, 1))`` as uint8 on CPU (uint8 input is taken as is)."""
        if images.dtype == torch.uint8:
            return images.detach().cpu()
        return images.detach().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()

    def _reserve(self, n: int, shape) -> None:
        need = self._len + n if self.max_size is None else min(self.max_size, self._len + n)
        cap = 0 if self._data is None else self._data.shape[0]
        if need <= cap:
            return
        new_cap = max(need, 2 * cap)
        if self.max_size is not None:
            new_cap = min(new_cap, self.max_size)
        data = torch.empty((new_cap, *shape), dtype=torch.uint8, device=self.device)
        if self._data is not None:
            data[:self._len] = self._data[:self._len]
        self._data = data

    def add(self, images: torch.Tensor) -> None:
        """Append a batch ``(N, C, H, W)`` of images with values in ``[0, 1]`` (or uint8)."""
        if images.ndim != 4:
            raise ValueError(f'ImageBank.add expects (N, C, H, W) images, got {tuple(images.shape)}')
        if self._data is not None and tuple(images.shape[1:]) != self.image_shape:
            raise ValueError(f'image shape {tuple(images.shape[1:])} differs from the bank\'s '
                             f'{self.image_shape}')
        imgs = self.to_uint8(images).to(self.device)
        if self.max_size is not None and imgs.shape[0] > self.max_size:
            imgs = imgs[-self.max_size:]
        n = imgs.shape[0]
        self._reserve(n, imgs.shape[1:])
        space = n if self.max_size is None else self.max_size - self._len
        if space > 0:                            # append (ptr == len until the bank is full)
            k = min(space, n)
            self._data[self._len:self._len + k] = imgs[:k]
            self._len += k
            self._ptr = self._len if self.max_size is None else self._len % self.max_size
            imgs = imgs[k:]
        if imgs.shape[0]:                        # full ring: overwrite the oldest
            idx = (self._ptr + torch.arange(imgs.shape[0], device=self.device)) % self.max_size
            self._data[idx] = imgs
            self._ptr = int((self._ptr + imgs.shape[0]) % self.max_size)
        self.n_added += n

    def images(self) -> torch.Tensor:
        """All stored images as uint8 ``(len, C, H, W)`` (a view, oldest first until it wraps)."""
        if self._data is None:
            return torch.empty(0, dtype=torch.uint8)
        return self._data[:self._len]

    def sample(self, batch_size: int, device=None,
               generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """``batch_size`` images drawn uniformly with replacement, float32 in ``[0, 1]`` on
        ``device`` (moved as uint8, converted there)."""
        if self._len == 0:
            raise RuntimeError('the image bank is empty: run a synthesis round first')
        idx = torch.randint(0, self._len, (batch_size,), generator=generator)
        return self._data[idx.to(self.device)].to(device, non_blocking=True).float().div_(255)

    def state_dict(self) -> dict:
        return dict(images=self.images().to('cpu', copy=True), ptr=self._ptr, n_added=self.n_added,
                    max_size=self.max_size)

    def load_state_dict(self, state: dict) -> None:
        images = state['images']
        self.max_size = state.get('max_size', self.max_size)
        self._data = images.to(self.device, copy=True) if images.numel() else None
        self._len = int(images.shape[0]) if images.numel() else 0
        self._ptr = int(state.get('ptr', self._len))
        self.n_added = int(state.get('n_added', self._len))
