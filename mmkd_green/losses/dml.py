from ..registry import MODELS
from .base import BaseKDLoss
from .utils import log_prob_kl_rows


@MODELS.register_module()
class DMLLoss(BaseKDLoss):
    """The paper's "altered" deep mutual learning loss (Zhang et al., 2018) for a frozen teacher.

    DML trains each network with its cross-entropy plus KL(p_peer ‖ p_self), with equal weights.
    With the teacher as the (frozen) peer and softened distributions, per row::

        L = ce_weight · CE(s, y) + kl_weight · τ² · KL(softmax(t/τ) ‖ softmax(s/τ))

    Unlike HKD the two terms are not a convex combination: DML keeps the full hard-label term
    (defaults 1 and 1). Without ``labels`` only the KL term is returned.
    """

    def __init__(self, ce_weight: float = 1.0, kl_weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if ce_weight < 0 or kl_weight < 0:
            raise ValueError(f'DMLLoss: weights must be >= 0, got ce_weight={ce_weight}, '
                             f'kl_weight={kl_weight}')
        self.ce_weight, self.kl_weight = float(ce_weight), float(kl_weight)

    def soft_loss(self, student_logits, teacher_logits, tau):
        log_ps, log_pt = self.soften(student_logits, teacher_logits, tau)
        return self.kl_weight * tau.squeeze(-1) ** 2 * log_prob_kl_rows(log_pt, log_ps)

    @property
    def hard_label_weight(self) -> float:
        return self.ce_weight
