"""CMI's memory bank of instance features (the negatives of its contrastive loss).

A FIFO ring of ``max_size`` feature rows on CPU. Each synthesis round adds the features of the
images it keeps; :meth:`sample` returns up to ``k`` stored rows drawn without replacement.
"""
from typing import Optional

import torch


class FeatureBank:
    """Args:
        max_size: rows kept (FIFO). dim: feature width.
    """

    def __init__(self, max_size: int, dim: int):
        if max_size < 1 or dim < 1:
            raise ValueError(f'FeatureBank needs max_size >= 1 and dim >= 1, got {max_size}, {dim}')
        self.max_size, self.dim = int(max_size), int(dim)
        self.data = torch.zeros(0, self.dim)
        self._ptr = 0
        self.n_added = 0

    def __len__(self) -> int:
        return self.data.shape[0]

    def add(self, feats: torch.Tensor) -> None:
        feats = feats.detach().float().cpu()
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
            idx = (self._ptr + torch.arange(feats.shape[0])) % self.max_size
            self.data[idx] = feats
            self._ptr = int((self._ptr + feats.shape[0]) % self.max_size)
        self.n_added += n

    def sample(self, k: int, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Up to ``k`` distinct stored rows (``(min(k, len), dim)``)."""
        if len(self) == 0:
            return self.data[:0]
        idx = torch.randperm(len(self), generator=generator)[:k]
        return self.data[idx]

    def state_dict(self) -> dict:
        return dict(data=self.data.clone(), ptr=self._ptr, n_added=self.n_added)

    def load_state_dict(self, state: dict) -> None:
        self.data = state['data'].clone().float()
        if self.data.ndim != 2 or self.data.shape[1] != self.dim:
            raise ValueError(f'checkpoint feature bank {tuple(self.data.shape)} does not match this '
                             f'synthesizer\'s width {self.dim} (a different teacher?)')
        self._ptr, self.n_added = int(state['ptr']), int(state['n_added'])
