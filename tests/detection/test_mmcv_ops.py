import torch


def test_mmcv_is_2_1_0_with_compiled_ops():
    import mmcv
    from mmcv.ops import batched_nms, nms
    assert mmcv.__version__ == '2.1.0'
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [0., 0., 10., 9.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([0.6, 0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    # box 1 (0.9) suppresses 0 (IoU 0.68) and 2 (IoU 0.63); box 3 is disjoint
    assert keep.tolist() == [1, 3]
    assert torch.allclose(dets[:, 4], torch.tensor([0.9, 0.7]))
    # with per-class offsets nothing overlaps across classes
    _, keep = batched_nms(boxes, scores, torch.tensor([0, 1, 2, 0]), dict(iou_threshold=0.5))
    assert sorted(keep.tolist()) == [0, 1, 2, 3]
