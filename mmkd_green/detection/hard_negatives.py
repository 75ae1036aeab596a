"""SSD's hard-negative mining for a whole batch at once (no per-image loop, no host sync).

Per image ``i`` with ``P_i`` positive anchors and negatives ``N_i``, SSD keeps the positives and
the ``k_i = min(⌊r · P_i⌋, |N_i|)`` negatives of highest classification loss ``ce``::

    mask_i,a = pos_i,a  ∨  (neg_i,a ∧ rank_i(a) < k_i)

with ``rank_i(a)`` the position of anchor ``a`` when image ``i``'s negatives are sorted by ``ce``
in descending order (non-negatives placed last). One ``sort`` over the batch replaces the
per-image ``topk`` loop, whose ``int(sum())``/``nonzero`` read the device twice per image.
Among negatives of exactly equal loss the choice may differ from a ``topk``'s; the kept losses
are the same.
"""
import torch


def hard_negative_mask(ce: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor,
                       neg_pos_ratio: float) -> torch.Tensor:
    """``(B, A)`` bool: positives plus each image's ``k_i`` hardest negatives (see above).

    Args:
        ce: ``(B, A)`` per-anchor classification loss. pos, neg: ``(B, A)`` bool masks.
        neg_pos_ratio: ``r``, negatives kept per positive.
    """
    num_pos = pos.sum(1)
    k = torch.minimum(torch.floor(num_pos.double() * float(neg_pos_ratio)).long(), neg.sum(1))
    ranked = torch.where(neg, ce, torch.full_like(ce, -float('inf')))
    order = ranked.argsort(dim=1, descending=True, stable=True)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(ce.shape[1], device=ce.device).expand_as(order))
    return pos | (neg & (rank < k[:, None]))
