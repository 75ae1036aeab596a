"""SafeSSDHead: predicts where mmdet 3.3.0's SSDHead crashes, same loss and weights otherwise."""
import pytest
import torch

pytest.importorskip('mmdet.registry', reason='mmdet (needs mmcv) is not importable')

from mmdet.structures import DetDataSample  # noqa: E402
from mmengine.structures import InstanceData  # noqa: E402

from det_helpers import load_cfg  # noqa: E402


def _samples(n=2, size=128):
    out = []
    for i in range(n):
        s = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                        scale_factor=(1.0, 1.0), pad_shape=(size, size),
                                        batch_input_shape=(size, size)))
        s.gt_instances = InstanceData(bboxes=torch.tensor([[10., 12., 50., 60.],
                                                           [70., 20., 120., 90.]]),
                                      labels=torch.tensor([i % 3, 2]))
        out.append(s)
    return out


def _models(mmdet_type):
    from mmdet.registry import MODELS
    cfg = load_cfg('configs/toy/ssdlite_student_toy.py')
    torch.manual_seed(0)
    ours = MODELS.build(cfg.model)
    cfg.model.bbox_head.type = mmdet_type
    theirs = MODELS.build(cfg.model)
    theirs.load_state_dict(ours.state_dict(), strict=True)
    return ours.eval(), theirs.eval()


def test_predict_works_where_mmdet_ssdhead_crashes(mmdet_scope):
    ours, theirs = _models('SSDHead')
    x = torch.rand(2, 3, 128, 128)
    with pytest.raises(AttributeError, match='loss_cls'):
        theirs.predict(x, _samples())
    res = ours.predict(x, _samples())
    assert len(res) == 2 and res[0].pred_instances.bboxes.shape[-1] == 4
    assert (res[0].pred_instances.labels < 3).all()


def test_same_loss_and_weights_as_mmdet(mmdet_scope):
    ours, theirs = _models('SSDHead')
    ours.train(), theirs.train()
    x = torch.rand(2, 3, 128, 128)
    assert set(ours.state_dict()) == set(theirs.state_dict())
    torch.manual_seed(1)
    a = ours.loss(x, _samples())
    torch.manual_seed(1)
    b = theirs.loss(x, _samples())
    for k in ('loss_cls', 'loss_bbox'):
        assert torch.allclose(sum(a[k]), sum(b[k]), atol=1e-5), k


def test_mined_mask_is_positives_plus_ratio_negatives(mmdet_scope):
    from mmdet.models.utils import unpack_gt_instances
    ours, _ = _models('SSDHead')
    head = ours.bbox_head
    x = torch.rand(2, 3, 128, 128)
    cls, reg = head(ours.extract_feat(x))
    gts, ign, metas = unpack_gt_instances(_samples())
    t = head.flat_targets(cls, reg, gts, metas, ign)
    assert t['cls_scores'].shape == (2, 340, 4) and t['labels'].shape == (2, 340)
    mask = head.mined_mask(t['cls_scores'], t['labels'], t['label_weights'])
    pos = ((t['labels'] >= 0) & (t['labels'] < 3)).sum(1)
    assert torch.equal(mask.sum(1), pos * 4)   # neg_pos_ratio = 3
