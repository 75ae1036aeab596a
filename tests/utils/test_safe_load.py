"""The safe checkpoint loader (``mmkd_green.utils.safe_load``): our checkpoints load with torch's
``weights_only`` unpickler (tests/temperature/test_tau_through_runs.py); anything else still
fails."""
import pytest
import torch

import mmkd_green  # noqa: F401  (registers the safe globals)
from mmkd_green.temperature import UniformTemperature


def test_safe_loader_still_refuses_arbitrary_globals(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'obj': UniformTemperature()}, path)
    with pytest.raises(Exception, match='[Ww]eights only load failed'):
        torch.load(path)


def test_restricted_getattr_refuses_other_attributes(tmp_path):
    import numpy as np

    class Evil:   # getattr on an allow-listed class, but not HistoryBuffer
        def __reduce__(self):
            return (getattr, (np.ndarray, 'tofile'))

    path = tmp_path / 'evil_getattr.pth'
    torch.save({'x': Evil()}, path)
    with pytest.raises(Exception, match='[Ww]eights only load failed|refusing getattr'):
        torch.load(path)
