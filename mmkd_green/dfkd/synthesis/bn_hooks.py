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


class BNStatisticsDistance(torch.autograd.Function):
    """``R_bn(x) = ‖σ² − σ²_run‖₂ + ‖μ − μ_run‖₂`` with a fused backward.

    With ``M = N·H·W`` values per channel, ``u_μ = (μ − μ_run) / ‖μ − μ_run‖`` and
    ``u_σ = (σ² − σ²_run) / ‖σ² − σ²_run‖``, the gradient is, per element of channel c::

        ∂R/∂x = (u_μ,c + 2 · u_σ,c · (x − μ_c)) / M = a_c + b_c · x

    one multiply-add per element (autograd's ``var_mean`` backward takes several passes, about
    3x the time on the largest WRN-40-2 layers here). Low-precision ``x`` (autocast) is
    reduced in fp32; the gradient is returned in ``x``'s dtype.
    """

    @staticmethod
    def forward(ctx, x, running_mean, running_var):
        xf = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
        var, mean = torch.var_mean(xf, dim=(0, 2, 3), unbiased=False)
        d_mean, d_var = mean - running_mean, var - running_var
        n_mean, n_var = torch.linalg.vector_norm(d_mean), torch.linalg.vector_norm(d_var)
        tiny = torch.finfo(n_mean.dtype).tiny   # a zero distance has a zero (sub)gradient
        ctx.save_for_backward(xf, mean, d_mean / n_mean.clamp_min(tiny),
                              d_var / n_var.clamp_min(tiny))
        ctx.in_dtype, ctx.per_channel = x.dtype, x.numel() // x.shape[1]
        return n_var + n_mean

    @staticmethod
    def backward(ctx, grad):
        xf, mean, u_mean, u_var = ctx.saved_tensors
        b = (2.0 / ctx.per_channel) * grad * u_var
        a = (grad / ctx.per_channel) * u_mean - b * mean
        shape = (1, -1, 1, 1)
        return torch.addcmul(a.view(shape), xf, b.view(shape)).to(ctx.in_dtype), None, None


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
        self.loss_rows = None           # n: R_bn of the first n images only (CMI: global view)
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
        x = inputs[0]   # autocast gives bf16/fp16 activations: every statistic is taken in fp32
        rows = x if self.loss_rows is None else x[:self.loss_rows]
        self.losses.append(BNStatisticsDistance.apply(rows, module.running_mean,
                                                      module.running_var))
        if self.instance_means:
            low = x.dtype in (torch.float16, torch.bfloat16)
            self.means.append(x.mean(dim=(2, 3), dtype=torch.float32 if low else None))

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
