"""CMI's memory bank of instance features (the negatives of its contrastive loss).

A FIFO ring of ``max_size`` feature rows kept on the training device (``device``; CMI places it
on the teacher's and moves it with :meth:`FeatureBank.to` when the teacher moves), so a step's
negatives are gathered where the head runs: no host gather and no host-to-device copy per step
(at the paper's settings 4096 × 5408 fp32 rows, ~88 MB per step). Each synthesis round adds the
features of the images it keeps; :meth:`sample` returns up to ``k`` stored rows drawn without
replacement (a ``randperm`` on the bank's device). A loaded state lands on the bank's own device
whatever device the checkpoint was mapped to (mmengine resumes with ``map_location`` on the GPU).
"""
from typing import Optional

import torch


class FeatureBank:
    """Args:
        max_size: rows kept (FIFO). dim: feature width.
        device: where the rows live (the training device).
        dtype: storage dtype (``torch.float16`` halves the memory; rows are read back as fp32).
    """

    def __init__(self, max_size: int, dim: int, device='cpu', dtype=torch.float32):
        if max_size < 1 or dim < 1:
            raise ValueError(f'FeatureBank needs max_size >= 1 and dim >= 1, got {max_size}, {dim}')
        self.max_size, self.dim = int(max_size), int(dim)
        self.device, self.dtype = torch.device(device), dtype
        self.data = torch.zeros(0, self.dim, device=self.device, dtype=dtype)
        self._ptr = 0
        self.n_added = 0

    def __len__(self) -> int:
        return self.data.shape[0]

    def to(self, device) -> 'FeatureBank':
        """Move the rows to ``device`` (a no-op when they are there)."""
        self.device = torch.device(device)
        if self.data.device != self.device:
            self.data = self.data.to(self.device)
        return self

    def add(self, feats: torch.Tensor) -> None:
        feats = feats.detach().to(self.device, self.dtype)
        if feats.ndim != 2 or feats.shape[1] != self.dim:
            raise ValueError(f'FeatureBank of width {self.dim} got features {tuple(feats.shape)}')
        feats = feats[-self.max_size:]
        n = feats.shape[0]
        space = self.max_size - len(self)
        if space > 0:                          # append until full (ptr == len meanwhile)
            self.data = torch.cat([self.data, feats[:space]], 0)
            self._ptr = len(self) % self.max_size
            feats = feats[space:]
        if feats.shape[0]:                     # full: overwrite the oldest rows
            idx = (self._ptr + torch.arange(feats.shape[0], device=self.device)) % self.max_size
            self.data[idx] = feats
            self._ptr = int((self._ptr + feats.shape[0]) % self.max_size)
        self.n_added += n

    def sample(self, k: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Up to ``k`` distinct stored rows (``(min(k, len), dim)``, on the bank's device; the
        indices are drawn there, or on ``generator``'s device when one is given)."""
        if len(self) == 0:
            return self.data[:0]
        where = generator.device if generator is not None else self.device
        idx = torch.randperm(len(self), generator=generator, device=where)[:k]
        return self.data[idx.to(self.device)]

    def state_dict(self) -> dict:
        return dict(data=self.data.to('cpu', copy=True), ptr=self._ptr, n_added=self.n_added)

    def load_state_dict(self, state: dict) -> None:
        self.data = state['data'].to(self.device, self.dtype).clone()
        if self.data.ndim != 2 or self.data.shape[1] != self.dim:
            raise ValueError(f'checkpoint feature bank {tuple(self.data.shape)} does not match this '
                             f'synthesizer\'s width {self.dim} (a different teacher?)')
        self._ptr, self.n_added = int(state['ptr']), int(state['n_added'])
