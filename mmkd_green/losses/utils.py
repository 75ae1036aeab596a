"""Shared pieces of the KD losses: τ resolution, softened log-probabilities, weighted reduction,
the soft/hard weight check."""
import math
from typing import Optional, Union

import torch
import torch.nn.functional as F

from ..temperature.current import get_current_temperature


def soft_weight(loss_name: str, alpha) -> float:
    """``alpha``, the weight ``α`` of a loss's soft term (its hard-label term gets ``1 − α``), as a
    float in [0, 1]; anything else raises, naming the loss."""
    try:
        value = float(alpha)
    except (TypeError, ValueError):
        value = math.nan
    if isinstance(alpha, bool) or not 0.0 <= value <= 1.0:
        raise ValueError(f'{loss_name}: `alpha` must lie in [0, 1], got {alpha!r}')
    return value


def resolve_tau(explicit, override, logits: torch.Tensor) -> torch.Tensor:
    """τ as a tensor of shape ``(N, 1)`` (or ``(1, 1)``) on the logits' device and dtype.

    Precedence: the per-call ``override``, then the loss's own fixed ``explicit`` τ, then the τ the
    run's TemperatureHook published. Per-sample τ must have one value per row of the logits.

    τ is checked (finite, > 0) where it lives, before it moves: a number or a host tensor on the
    host, so a training step reads nothing back from the GPU; a scalar is written on the device
    by a fill (no host-to-device copy), a host tensor copied asynchronously. A τ already on the
    logits' accelerator is checked there with an asynchronous device assert.
    """
    tau = override if override is not None else explicit
    if tau is None:
        tau = get_current_temperature()
    if not torch.is_tensor(tau) and not hasattr(tau, '__len__'):      # a number: host check
        value = float(tau)
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f'τ must be finite and > 0, got {[value]}')
        return torch.full((1, 1), value, dtype=logits.dtype, device=logits.device)
    tau = torch.as_tensor(tau).detach()
    if tau.ndim == 0:
        tau = tau.view(1, 1)
    elif tau.ndim == 1 and tau.numel() in (1, logits.shape[0]):
        tau = tau.view(-1, 1)
    else:
        raise ValueError(f'τ must be a scalar or have one value per row of the logits '
                         f'({logits.shape[0]}), got shape {tuple(tau.shape)}')
    if tau.device.type == 'cpu':
        if not torch.isfinite(tau).all() or (tau <= 0).any():
            raise ValueError(f'τ must be finite and > 0, got {tau.flatten()[:8].tolist()}')
        return tau.to(device=logits.device, dtype=logits.dtype, non_blocking=True)
    tau = tau.to(device=logits.device, dtype=logits.dtype)
    torch._assert_async(torch.isfinite(tau).all() & (tau > 0).all(),
                        'τ must be finite and > 0')
    return tau


def softened_log_probs(logits: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """log softmax(z / τ) over the last dimension (numerically stable for τ in [0.5, 100])."""
    return F.log_softmax(logits / tau, dim=-1)


def log_prob_kl_rows(teacher_log_p: torch.Tensor,
                     student_log_p: torch.Tensor) -> torch.Tensor:
    """Per-row KL(p_t ‖ p_s) = Σ_k p_t,k (log p_t,k − log p_s,k) from log-probabilities (teacher
    first, as in the formula; ``dfkd.synthesis.priors.kl_rows`` takes logits, student first)."""
    return F.kl_div(student_log_p, teacher_log_p, reduction='none', log_target=True).sum(-1)


def weight_reduce(loss: torch.Tensor, weight: Optional[torch.Tensor], reduction: str,
                  avg_factor: Optional[Union[float, torch.Tensor]] = None) -> torch.Tensor:
    """Per-row losses → the requested reduction.

    ``weight`` (per row; a 0/1 mask selects anchors) multiplies each row. ``mean`` divides by
    ``avg_factor`` when given (e.g. the number of positive anchors), else by the number of rows.
    """
    if weight is not None:
        weight = weight.to(loss.dtype)
        if weight.shape != loss.shape:
            raise ValueError(f'weight shape {tuple(weight.shape)} != loss shape {tuple(loss.shape)}')
        loss = loss * weight
    if reduction == 'none':
        return loss
    if reduction == 'sum':
        return loss.sum()
    if reduction == 'mean':
        if avg_factor is None:
            return loss.mean()
        return loss.sum() / (avg_factor + torch.finfo(loss.dtype).eps)
    raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
