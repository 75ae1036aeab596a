from ..registry import MODELS
from .base import BaseKDLoss
from .utils import soft_weight


@MODELS.register_module()
class BgWeightedSoftCELoss(BaseKDLoss):
    """Soft cross-entropy KD with a background-class weight (Chen et al., NeurIPS 2017,
    "Learning Efficient Object Detection Models with Knowledge Distillation", Eq. 3).

    Per row (anchor), ``p^s = softmax(s/τ)``, ``p^t = softmax(t/τ)`` over the ``C + 1`` classes::

        L = α · g(τ) · ( − Σ_k w_k · p^t_k · log p^s_k ) + (1 − α) · CE(s, y)

        w_k = bg_weight (1.5 in Chen et al.) for the background class k = bg_index, 1 otherwise
        g(τ) = τ² (``tau_squared=True``, gradient scale as in our other KD losses) or 1

    Chen et al. up-weight the background because most anchors are background and errors there
    dominate detection KD. Unlike KL this is a cross-entropy: it differs from
    ``Σ_k w_k p^t_k log(p^t_k / p^s_k)`` by the teacher's (weighted) entropy, a constant for the
    student, so with ``bg_weight=1`` and ``tau_squared=True`` its gradient is HKD's. Their
    ``L_cls = μ·L_hard + (1 − μ)·L_soft`` is this loss with ``α = 1 − μ``; ``tau_squared=False``
    gives their term exactly. Without ``labels`` only the soft term is returned (the SSD distiller
    adds the detector's hard loss weighted by ``1 − α``).

    Args:
        alpha (float): weight of the soft term (``1 − μ``; 0.5 by default).
        bg_weight (float): ``w`` of the background class (Chen et al.: 1.5).
        bg_index (int): background column of the logits; mmdet's softmax heads put it last (-1).
        tau_squared (bool): multiply the soft term by τ².
    """

    def __init__(self, alpha: float = 0.5, bg_weight: float = 1.5, bg_index: int = -1,
                 tau_squared: bool = True, **kwargs):
        super().__init__(**kwargs)
        if not bg_weight >= 0:
            raise ValueError(f'BgWeightedSoftCELoss: `bg_weight` must be >= 0, got {bg_weight}')
        self.alpha, self.bg_weight = soft_weight('BgWeightedSoftCELoss', alpha), float(bg_weight)
        self.bg_index, self.tau_squared = int(bg_index), bool(tau_squared)

    def class_weights(self, num_classes: int, like):
        w = like.new_ones(num_classes)
        if not -num_classes <= self.bg_index < num_classes:
            raise ValueError(f'BgWeightedSoftCELoss: bg_index {self.bg_index} is outside the '
                             f'{num_classes} logit columns')
        w[self.bg_index] = self.bg_weight
        return w

    def soft_loss(self, student_logits, teacher_logits, tau):
        log_ps, log_pt = self.soften(student_logits, teacher_logits, tau)
        w = self.class_weights(student_logits.shape[-1], log_ps)
        loss = -(w * log_pt.exp() * log_ps).sum(-1)
        if self.tau_squared:
            loss = tau.squeeze(-1) ** 2 * loss
        return self.alpha * loss

    @property
    def hard_label_weight(self) -> float:
        return 1.0 - self.alpha
