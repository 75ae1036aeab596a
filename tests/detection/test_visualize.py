"""The demo's detection picture: ground truth from the annotation files, predictions of a real
checkpoint through model.test_step, one PNG."""
import xml.etree.ElementTree as ET

import numpy as np
import pytest

pytest.importorskip('mmdet.registry', reason='mmdet (needs mmcv) is not importable')

from det_helpers import TOY_CLASSES, load_cfg  # noqa: E402


def test_detection_figure_from_a_checkpoint(toy_voc, tmp_path, mmdet_scope):
    import torch
    from mmdet.registry import MODELS

    from mmkd_green.detection.visualize import predict_images, save_detection_figure
    cfg = load_cfg('configs/toy/ssdlite_student_toy.py', toy_voc)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    ckpt = str(tmp_path / 'student.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), ckpt)

    samples = predict_images(cfg, ckpt, [0, 1])
    for s in samples:
        xml = s['img_path'].replace('JPEGImages', 'Annotations').replace('.jpg', '.xml')
        objects = ET.parse(xml).getroot().findall('object')
        assert len(s['gt_bboxes']) == len(objects) > 0
        assert [TOY_CLASSES[k] for k in s['gt_labels']] == [o.find('name').text for o in objects]
        assert s['bboxes'].shape[1] == 4 and len(s['scores']) == len(s['labels'])
        assert np.all(s['scores'] <= 1.0)
    png = save_detection_figure(cfg, ckpt, str(tmp_path / 'det.png'), num_images=3,
                                score_thr=0.0)
    assert open(png, 'rb').read(8) == b'\x89PNG\r\n\x1a\n'
