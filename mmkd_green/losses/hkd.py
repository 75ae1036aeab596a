from ..registry import MODELS
from .base import BaseKDLoss
from .utils import log_prob_kl_rows, soft_weight


@MODELS.register_module()
class HKDLoss(BaseKDLoss):
    """Hinton et al. (2015) knowledge distillation.

    Per row (sample or anchor)::

        L = α · τ² · KL(softmax(t/τ) ‖ softmax(s/τ)) + (1 − α) · CE(s, y)

    with student logits ``s``, teacher logits ``t``, labels ``y``. The τ² factor keeps the soft
    term's gradient magnitude independent of τ. Without ``labels`` only the soft term
    ``α · τ² · KL`` is returned (the caller adds its own hard-label loss, as the SSD distiller
    does with the detector loss weighted by ``1 − α``).

    ``kl_normalization='batch'`` (default, Hinton's): the KL is summed over the C classes of a
    row and the rows are averaged. ``'element'``: the authors' code (``nn.KLDivLoss()``, whose
    default reduction averages over all N·C elements) divides each row's KL by C, a soft term C
    times weaker at the same α; use it only to reproduce their numbers exactly.

    Args:
        alpha (float): weight of the soft term, 0.95 as in the paper.
        kl_normalization (str): ``'batch'`` | ``'element'`` (see above).
    """

    def __init__(self, alpha: float = 0.95, kl_normalization: str = 'batch', **kwargs):
        super().__init__(**kwargs)
        if kl_normalization not in ('batch', 'element'):
            raise ValueError(f"HKDLoss: kl_normalization must be 'batch' (Hinton) or 'element' "
                             f"(the authors' nn.KLDivLoss() mean), got {kl_normalization!r}")
        self.alpha, self.kl_normalization = soft_weight('HKDLoss', alpha), kl_normalization

    def soft_loss(self, student_logits, teacher_logits, tau):
        log_ps, log_pt = self.soften(student_logits, teacher_logits, tau)
        kl = log_prob_kl_rows(log_pt, log_ps)
        if self.kl_normalization == 'element':
            kl = kl / student_logits.shape[-1]
        return self.alpha * tau.squeeze(-1) ** 2 * kl

    @property
    def hard_label_weight(self) -> float:
        return 1.0 - self.alpha
