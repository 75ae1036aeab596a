"""CMI's contrastive term: instance discrimination between a local and a global view.

Instance features ``f`` (concatenated BN-input channel means, see :mod:`.bn_hooks`) of the
current batch (``N`` rows) and of ``N'`` cached rows from the memory bank are projected by an
MLP head ``h`` onto the unit sphere. With local/global projections ``u_i = h(f_i^local)``,
``v_j = h(f_j^global)`` (``v`` detached) and temperature ``T_cr``::

    ℓ_i = −log( exp(u_i·v_i / T_cr) / Σ_j exp(u_i·v_j / T_cr) ),   i, j ∈ current ∪ cached

    L_cr = mean_{i ≤ N} ℓ_i + mean_{i > N} ℓ_i      (the first mean alone while the bank is empty)

Splitting the mean keeps the current batch's gradient from being diluted by the (larger) cache.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class ProjectionHead(nn.Module):
    """``x ↦ normalize(W₂ · relu(W₁ x))`` (hidden width = input width, as in CMI)."""

    def __init__(self, dim_in: int, dim_out: int = 256, dim_hidden: int = None):
        super().__init__()
        dim_hidden = dim_hidden or dim_in
        self.net = nn.Sequential(nn.Linear(dim_in, dim_hidden), nn.ReLU(inplace=True),
                                 nn.Linear(dim_hidden, dim_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.net(x), dim=1, p=2)


def contrastive_loss(proj_local: torch.Tensor, proj_global: torch.Tensor, n_current: int,
                     temperature: float) -> torch.Tensor:
    """``L_cr`` above for projections of shape ``(N + N', d)`` (current rows first)."""
    logits = proj_local @ proj_global.detach().t() / temperature
    labels = torch.arange(logits.shape[0], device=logits.device)
    loss = F.cross_entropy(logits, labels, reduction='none')
    if loss.shape[0] > n_current:
        return loss[:n_current].mean() + loss[n_current:].mean()
    return loss.mean()
