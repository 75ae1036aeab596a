from ..registry import MODELS
from .base import BaseKDLoss
from .utils import soft_weight


@MODELS.register_module()
class CMCLoss(BaseKDLoss):
    """The paper's "altered" Ba & Caruana (2014) logit matching, on temperature-softened outputs.

    Ba & Caruana regress the teacher's logits with a squared error. The altered form matches the
    softened distributions instead, per row::

        L = α · τ² · Σ_k (softmax(s/τ)_k − softmax(t/τ)_k)² + (1 − α) · CE(s, y)

    Our choices (the paper gives no equation): the squared error is *summed* over the C classes
    (a squared L2 distance between distributions) and scaled by τ², as in Hinton's loss. For large
    τ, softmax(z/τ) ≈ 1/C + (z − z̄)/(Cτ), so τ²·Σ(Δp)² → ‖(s − s̄) − (t − t̄)‖² / C²: centred
    logit matching (Ba & Caruana's objective) up to the constant 1/C². Without ``labels`` only
    the soft term is returned.

    ``space='logit'``: the paper's text (CMC squares the difference of *logits*), on
    τ-softened logits, averaged over the classes as ``nn.MSELoss`` does::

        L = α · (1/C) · Σ_k (s_k/τ − t_k/τ)² + (1 − α) · CE(s, y)

    Its soft-term gradient is ``2α(s − t)/(Cτ²)``: τ weights the logit matching by 1/τ². The
    probability form's soft gradient is about 2/C of HKD's at large τ, weak with many classes.

    Args:
        alpha (float): weight of the soft term (0.95 by default, as for HKD).
        space (str): ``'prob'`` (default, softened probabilities) | ``'logit'``.
    """

    def __init__(self, alpha: float = 0.95, space: str = 'prob', **kwargs):
        super().__init__(**kwargs)
        if space not in ('prob', 'logit'):
            raise ValueError(f"CMCLoss: space must be 'prob' or 'logit', got {space!r}")
        self.alpha, self.space = soft_weight('CMCLoss', alpha), space

    def soft_loss(self, student_logits, teacher_logits, tau):
        if self.space == 'logit':
            diff = (student_logits - teacher_logits.detach()) / tau
            loss = self.alpha * diff.pow(2).mean(-1)
        else:
            log_ps, log_pt = self.soften(student_logits, teacher_logits, tau)
            sq = (log_ps.exp() - log_pt.exp()).pow(2).sum(-1)
            loss = self.alpha * tau.squeeze(-1) ** 2 * sq
        return loss

    @property
    def hard_label_weight(self) -> float:
        return 1.0 - self.alpha
