"""Vectorised SSD hard-negative mining equals the per-image loop it replaced."""
import pytest
import torch

pytest.importorskip('mmdet.registry', reason='mmdet (needs mmcv) is not importable')

from mmkd_green.detection.hard_negatives import hard_negative_mask  # noqa: E402


def loop_mask(ce, pos, neg, ratio):
    """The former ``SafeSSDHead.mined_mask`` loop (two host reads per image)."""
    mask = pos.clone()
    for i in range(ce.size(0)):
        k = min(int(ratio * int(pos[i].sum())), int(neg[i].sum()))
        if k > 0:
            neg_idx = neg[i].nonzero(as_tuple=False).view(-1)
            mask[i, neg_idx[ce[i, neg_idx].topk(k).indices]] = True
    return mask


@pytest.mark.parametrize('ratio', [3, 2.5, 0])
def test_vectorised_mining_equals_the_loop(ratio):
    g = torch.Generator().manual_seed(0)
    b, a = 6, 400
    labels = torch.randint(0, 25, (b, a), generator=g)       # 20 classes, background = 20
    labels[0] = 20                                            # an image without positives
    labels[1, :395], labels[1, 395:] = 3, 20                  # more wanted than negatives exist
    labels[2, 5:] = -1                                        # mostly ignored anchors
    ce = torch.rand(b, a, generator=g)                        # continuous: no ties
    pos, neg = (labels >= 0) & (labels < 20), labels == 20
    expected = loop_mask(ce, pos, neg, ratio)
    got = hard_negative_mask(ce, pos, neg, ratio)
    assert got.dtype == torch.bool and torch.equal(got, expected)
    assert not got[0].any() and got[1].all() == (ratio >= 1)
