"""Forward hooks on a teacher's BatchNorm layers: the signals both inversion methods optimise.

For a ``BatchNorm2d`` with running statistics (μ_run, σ²_run) and input ``x`` of shape
``(N, C, H, W)``, the batch statistics are μ_c = mean over (N, H, W), σ²_c = biased variance over
(N, H, W), and the BN-statistics loss of the layer is (DeepInversion, Yin et al. CVPR 2020)::

    R_bn = ‖μ − μ_run‖₂ + ‖σ² − σ²_run‖₂

summed over all hooked layers. CMI additionally reads the per-instance channel means of every BN
input, ``m_i = mean over (H, W) of x_i`` (shape ``(N, C)``), concatenated over layers as the
instance feature of its contrastive loss.

Hooks are attached only for the duration of a synthesis round (:class:`BNHooks` is a context
manager), so KD steps run the teacher without any hook overhead.
"""
from typing import List

import torch
import torch.nn as nn


class BNHooks:
    """Collects ``R_bn`` and instance channel means from every ``BatchNorm2d`` of ``model``.

    Args:
        model: the (frozen, eval-mode) teacher.
        instance_means: also keep the per-instance channel means of each BN input.
    """

    def __init__(self, model: nn.Module, instance_means: bool = False):
        self.layers: List[nn.BatchNorm2d] = [m for m in model.modules()
                                             if isinstance(m, nn.BatchNorm2d)]
        if not self.layers:
            raise ValueError(f'{type(model).__name__} has no nn.BatchNorm2d layer: BN-statistics '
                             'inversion (DeepInversion/CMI) needs a teacher with BatchNorm2d.')
        for m in self.layers:
            if m.running_mean is None or m.running_var is None:
                raise ValueError('a teacher BatchNorm2d has track_running_stats=False: its '
                                 'running statistics are needed for BN-statistics matching')
        self.instance_means = instance_means
        self.record_losses = True       # False: skip R_bn (e.g. CMI's local view, unused there)
        self._handles = []
        self.losses: List[torch.Tensor] = []
        self.means: List[torch.Tensor] = []

    # -- context manager -------------------------------------------------------------------
    def __enter__(self):
        self.attach()
        return self

    def __exit__(self, *exc):
        self.remove()

    def attach(self) -> None:
        if not self._handles:
            self._handles = [m.register_forward_hook(self._hook) for m in self.layers]

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []
        self.clear()

    def clear(self) -> None:
        self.losses, self.means = [], []

    # -- the hook --------------------------------------------------------------------------
    def _hook(self, module: nn.BatchNorm2d, inputs, output) -> None:
        x = inputs[0]
        if self.record_losses:
            var, mean = torch.var_mean(x, dim=(0, 2, 3), unbiased=False)
            self.losses.append(torch.linalg.vector_norm(var - module.running_var) +
                               torch.linalg.vector_norm(mean - module.running_mean))
        if self.instance_means:
            self.means.append(x.mean(dim=(2, 3)))

    # -- readers (consume what the last forward pass recorded) ------------------------------
    def bn_loss(self) -> torch.Tensor:
        """Σ over layers of ``R_bn`` for the last forward pass, then forget it."""
        if not self.losses:
            raise RuntimeError('no BN statistics recorded: run the teacher forward inside the '
                               '`with BNHooks(teacher):` block first')
        loss = torch.stack(self.losses).sum()
        self.losses = []
        return loss

    def instance_features(self) -> torch.Tensor:
        """``(N, Σ C_l)``: per-instance channel means of every BN input, last forward pass."""
        feats = torch.cat(self.means, dim=1)
        self.means = []
        return feats

    @torch.no_grad()
    def feature_dim(self, model: nn.Module, img_size) -> int:
        """Width of :meth:`instance_features` for ``model`` on ``img_size`` inputs."""
        device = next(model.parameters()).device
        keep, self.instance_means = self.instance_means, True
        try:
            with self:
                model(torch.zeros(2, *img_size, device=device))
                dim = sum(m.shape[1] for m in self.means)
        finally:
            self.instance_means = keep
        return dim


def bn_statistics_loss(model: nn.Module, images: torch.Tensor) -> float:
    """``Σ R_bn`` of ``model`` on ``images`` (no grad): how far their BN statistics are from the
    model's running statistics. Used by tests and logs to check that synthesis lowers it."""
    with torch.no_grad(), BNHooks(model) as hooks:
        model(images)
        return float(hooks.bn_loss())
