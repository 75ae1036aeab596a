"""Teacher-bounded box-regression loss (Chen et al., NeurIPS 2017, "Learning Efficient Object
Detection Models with Knowledge Distillation", Eq. 4).

For each positive anchor with student deltas ``r_s``, teacher deltas ``r_t`` and target ``y``
(all in the same ``DeltaXYWHBBoxCoder`` encoding, which is scale-free, so student and teacher
deltas of corresponding anchors are comparable even at different input sizes)::

    L_b = Σ_pos  [ ‖r_s − y‖² + m > ‖r_t − y‖² ] · ‖r_s − y‖²  /  avg_factor

The student is pushed towards the target only where it is not already (within margin ``m``)
better than the teacher; the teacher is used as an upper bound, not as a target.
"""
from typing import Optional

import torch
import torch.nn as nn
from mmdet.registry import MODELS


@MODELS.register_module()
class TeacherBoundedRegLoss(nn.Module):
    """Args: ``margin`` (m, ≥ 0), ``loss_weight`` (λ, multiplies the loss)."""

    def __init__(self, margin: float = 0.0, loss_weight: float = 0.5):
        super().__init__()
        if margin < 0 or loss_weight < 0:
            raise ValueError(f'TeacherBoundedRegLoss: margin and loss_weight must be >= 0, got '
                             f'margin={margin}, loss_weight={loss_weight}')
        self.margin, self.loss_weight = float(margin), float(loss_weight)

    def forward(self, student_deltas: torch.Tensor, teacher_deltas: torch.Tensor,
                targets: torch.Tensor, avg_factor: Optional[float] = None) -> torch.Tensor:
        if not (student_deltas.shape == teacher_deltas.shape == targets.shape):
            raise ValueError('TeacherBoundedRegLoss: student, teacher and target deltas must have '
                             f'one shape, got {tuple(student_deltas.shape)}, '
                             f'{tuple(teacher_deltas.shape)}, {tuple(targets.shape)}')
        err_s = (student_deltas - targets).pow(2).sum(-1)
        err_t = (teacher_deltas.detach().to(err_s.dtype) - targets).pow(2).sum(-1)
        active = (err_s + self.margin > err_t).to(err_s.dtype)
        denom = float(avg_factor) if avg_factor is not None else max(err_s.numel(), 1)
        return self.loss_weight * (active * err_s).sum() / max(denom, 1.0)
