from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .utils import resolve_tau, softened_log_probs, weight_reduce


class BaseKDLoss(nn.Module):
    """Common interface of the logit KD losses.

    ``forward(student_logits, teacher_logits, labels=None, weight=None, avg_factor=None, tau=None,
    reduction_override=None)`` with logits of shape ``(N, C)`` (detection flattens anchors into
    ``N``). :meth:`row_loss`, the loss of each row, is the subclass's soft term plus the
    hard-label term ``w · CE(s, y)`` when labels are given (``w`` = :attr:`hard_label_weight`).
    A loss is a subclass defining :meth:`soft_loss` and :attr:`hard_label_weight`.

    Args:
        tau (float, optional): a fixed τ for a loss used outside a run with a τ sampler; ``None``
            (the default) reads the run's shared τ. A run with a ``TemperatureHook`` refuses a
            loss-level τ (it would silently override the sampler its records name): set
            ``temperature = dict(type='ConstantTemperature', tau=...)`` instead.
        loss_weight (float): multiplies the reduced loss.
        reduction (str): ``'mean'`` | ``'sum'`` | ``'none'``.
    """

    def __init__(self, tau: Optional[float] = None, loss_weight: float = 1.0,
                 reduction: str = 'mean'):
        super().__init__()
        if tau is not None:
            resolve_tau(tau, None, torch.zeros(1, 1))  # validates: finite and > 0
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
        self.tau, self.loss_weight, self.reduction = tau, float(loss_weight), reduction
        self.last_tau: Optional[torch.Tensor] = None

    def soft_loss(self, student_logits, teacher_logits, tau) -> torch.Tensor:
        """The KD term of each row, ``(N,)``; ``tau`` is ``(1, 1)`` or ``(N, 1)``."""
        raise NotImplementedError

    def row_loss(self, student_logits, teacher_logits, labels, tau) -> torch.Tensor:
        """``soft_loss`` + ``hard_label_weight · CE(s, y)`` (the latter only with labels)."""
        loss = self.soft_loss(student_logits, teacher_logits, tau)
        if labels is not None:
            loss = loss + self.hard_label_weight * self.cross_entropy(student_logits, labels)
        return loss

    @property
    def hard_label_weight(self) -> float:
        """The weight ``w`` of the hard-label term ``w · CE(s, y)`` that :meth:`row_loss` adds when
        given labels. A caller that calls the loss without labels and computes its own hard-label
        loss (the SSD distiller) weighs that loss by ``w``."""
        raise NotImplementedError(f'{type(self).__name__} must define `hard_label_weight`')

    @staticmethod
    def cross_entropy(student_logits, labels) -> torch.Tensor:
        return F.cross_entropy(student_logits, labels, reduction='none')

    @staticmethod
    def soften(student_logits, teacher_logits, tau):
        return (softened_log_probs(student_logits, tau),
                softened_log_probs(teacher_logits.detach(), tau))

    def forward(self, student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                labels: Optional[torch.Tensor] = None, weight: Optional[torch.Tensor] = None,
                avg_factor=None, tau=None, reduction_override: Optional[str] = None):
        if student_logits.shape != teacher_logits.shape or student_logits.ndim != 2:
            raise ValueError('student and teacher logits must both be (N, C), got '
                             f'{tuple(student_logits.shape)} and {tuple(teacher_logits.shape)}')
        if student_logits.dtype in (torch.float16, torch.bfloat16):
            student_logits = student_logits.float()   # autocast: the KD terms in fp32
        tau_t = resolve_tau(self.tau, tau, student_logits)
        self.last_tau = tau_t.detach()   # the τ this call used (tests and diagnostics read it)
        loss = self.row_loss(student_logits, teacher_logits.to(student_logits.dtype), labels, tau_t)
        return self.loss_weight * weight_reduce(loss, weight, reduction_override or self.reduction,
                                                avg_factor)
