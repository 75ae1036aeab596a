"""Append-only files of synthesis rounds, so checkpoints hold references instead of banks.

At the paper's CMI settings (200 rounds of 256 images, WRN-40-2 teacher) the image bank grows to
51 200 images (157 MB as uint8) and the feature bank to 40 960 rows of 5 408 floats (886 MB);
holding both in every checkpoint made each one ~1.1 GB. With a store attached
(:meth:`BaseSynthesizer.attach_store`; ``DataFreeTrainLoop`` attaches
``<work_dir>/synthesis_rounds/rank<r>/`` by default), every round writes what it adds to the
banks once, to its own file ``round_<index>_<session>.pt``::

    images    (N, C, H, W) uint8      exactly what the image bank stores
    features  (N, F) float16          CMI only: the round's instance features (local | global)

and a checkpoint stores the list of those files instead of the banks. Loading replays the files
in order through the banks' own ``add`` (same FIFO/ring behaviour), so the image bank is restored
bit-exactly and the feature bank within float16 rounding: each value within a relative
``2^-11`` (≈ 4.9e-4) of the original (and absolutely within 2^-24 near 0).

Files are written atomically (temporary file, fsync, rename) and never overwritten: a run resumed
from an older checkpoint writes new files under its own session id, so newer checkpoints of the
first run stay valid. Resuming needs the files the checkpoint names (absolute paths); a missing
one raises ``FileNotFoundError`` naming it.
"""
import os
import os.path as osp
import uuid
from typing import Dict

import torch

#: relative error bound of the feature bank after a resume (float16 rounding)
FEATURE_RTOL = 2.0 ** -11


class RoundStore:
    """Args:
        root: folder for this process's round files (created on first write).
    """

    def __init__(self, root: str):
        self.root = osp.abspath(root)
        self.session = uuid.uuid4().hex[:8]

    def save(self, round_idx: int, tensors: Dict[str, torch.Tensor]) -> str:
        """Write one round's tensors; returns the file's absolute path."""
        os.makedirs(self.root, exist_ok=True)
        path = osp.join(self.root, f'round_{int(round_idx):06d}_{self.session}.pt')
        tmp = path + '.tmp'
        with open(tmp, 'wb') as f:
            torch.save({k: v.detach().cpu() for k, v in tensors.items()}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path

    @staticmethod
    def load(path: str) -> Dict[str, torch.Tensor]:
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'synthesis round file {path!r} is missing: this checkpoint keeps its image/feature '
                f'banks as round files in the work dir that wrote them (train_cfg.bank_storage='
                f'"work_dir"). Fix: restore that folder at the same path, or resume from a '
                f'checkpoint saved with train_cfg.bank_storage="checkpoint".')
        return torch.load(path, map_location='cpu', weights_only=True)
