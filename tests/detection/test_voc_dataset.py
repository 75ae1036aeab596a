"""VOC loading beyond the happy path: other folder names/classes, border boxes, bad files, mAP."""
import os
import os.path as osp
import shutil

import pytest

pytest.importorskip('mmdet.registry', reason='mmdet (needs mmcv) is not importable')

from mmkd_green.detection import BadVOCFileError, VOCLayoutDataset  # noqa: E402

from det_helpers import TOY_CLASSES  # noqa: E402


def _toy_dataset(root, **kw):
    return VOCLayoutDataset(data_root=root, ann_file='VOC2007/ImageSets/Main/trainval.txt',
                            data_prefix=dict(sub_data_root='VOC2007/'),
                            metainfo=dict(classes=TOY_CLASSES), pipeline=[], **kw)


def _copy_set(src_root, dst):
    shutil.copytree(osp.join(src_root, 'VOC2007'), osp.join(dst, 'VOC2007'))
    return str(dst) + '/'


def test_bccd_other_folder_and_classes_border_boxes(shared_data, mmdet_scope):
    ds = VOCLayoutDataset(data_root=osp.join(shared_data, 'BCCD') + '/',
                          ann_file='ImageSets/Main/trainval.txt',
                          data_prefix=dict(sub_data_root=''),
                          metainfo=dict(classes=('RBC', 'WBC', 'Platelets')),
                          pipeline=[], test_mode=True)
    assert len(ds) == 292 and ds.metainfo['dataset_type'] is None
    labels, touching = set(), 0
    for info in map(ds.get_data_info, range(len(ds))):
        for inst in info['instances']:
            x1, y1, x2, y2 = inst['bbox']
            assert 0 <= x1 < x2 <= info['width'] - 1 and 0 <= y1 < y2 <= info['height'] - 1
            touching += x1 == 0 or y1 == 0 or x2 == info['width'] - 1 or y2 == info['height'] - 1
            labels.add(inst['bbox_label'])
    assert labels == {0, 1, 2} and touching > 100   # BCCD has many border boxes


def test_clamps_crossing_boxes_and_drops_zero_area(toy_voc, tmp_path, mmdet_scope):
    root = _copy_set(toy_voc, tmp_path)
    xml = osp.join(root, 'VOC2007', 'Annotations', '000000.xml')
    text = open(xml).read()
    obj = ('<object><name>circle</name><difficult>0</difficult><bndbox><xmin>-5</xmin>'
           '<ymin>3</ymin><xmax>9999</xmax><ymax>20</ymax></bndbox></object>'
           '<object><name>square</name><bndbox><xmin>7</xmin><ymin>7</ymin><xmax>7</xmax>'
           '<ymax>30</ymax></bndbox></object><object><name>hexagon</name><bndbox><xmin>1</xmin>'
           '<ymin>1</ymin><xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>')
    open(xml, 'w').write(text.replace('</annotation>', obj))
    with pytest.warns(UserWarning) as rec:
        ds = _toy_dataset(root)
    msgs = ' '.join(str(r.message) for r in rec)
    assert 'hexagon' in msgs and '000000.xml' in msgs      # unknown class, zero-area box
    info = next(d for d in map(ds.get_data_info, range(len(ds))) if d['img_id'] == '000000')
    boxes = [i['bbox'] for i in info['instances']]
    assert [0, 2, info['width'] - 1, 19] in boxes          # clamped to the border
    assert all(b[2] > b[0] and b[3] > b[1] for b in boxes)


@pytest.mark.parametrize('damage', ['truncate', 'garbage', 'xml'])
def test_bad_files_raise_with_name_or_skip(toy_voc, tmp_path, mmdet_scope, damage):
    root = _copy_set(toy_voc, tmp_path)
    base = osp.join(root, 'VOC2007')
    if damage == 'truncate':
        path = osp.join(base, 'JPEGImages', '000003.jpg')
        data = open(path, 'rb').read()
        open(path, 'wb').write(data[:len(data) // 2])
    elif damage == 'garbage':
        path = osp.join(base, 'JPEGImages', '000003.jpg')
        open(path, 'wb').write(os.urandom(500))
    else:
        path = osp.join(base, 'Annotations', '000003.xml')
        open(path, 'w').write(open(path).read()[:-40])     # cut: unclosed tags
    with pytest.raises(BadVOCFileError, match='000003') as err:
        _toy_dataset(root)
    assert 'skip_bad_files' in str(err.value)
    with pytest.warns(UserWarning, match='000003'):
        ds = _toy_dataset(root, skip_bad_files=True)
    n_ids = len(open(osp.join(base, 'ImageSets', 'Main', 'trainval.txt')).read().split())
    assert len(ds) == n_ids - 1
    assert '000003' not in {ds.get_data_info(i)['img_id'] for i in range(len(ds))}
    assert len(ds.skipped_files) == 1


def test_voc_metric_is_one_when_predictions_equal_ground_truth(toy_voc, mmdet_scope):
    import torch
    from mmdet.evaluation import VOCMetric
    from mmdet.registry import DATASETS

    from det_helpers import load_cfg
    cfg = load_cfg('configs/toy/ssdlite_student_toy.py', data_root=toy_voc)
    ds = DATASETS.build(cfg.test_dataloader.dataset)
    assert ds.metainfo['dataset_type'] == 'VOC2007'
    metric = VOCMetric(metric='mAP', eval_mode='11points')
    metric.dataset_meta = ds.metainfo
    n_obj = 0
    for i in range(len(ds)):
        sample = ds[i]['data_samples']
        gt, ign = sample.gt_instances, sample.ignored_instances
        boxes = gt.bboxes.tensor          # original-image coordinates (as predictions with rescale)
        n_obj += len(boxes)
        metric.process({}, [dict(
            gt_instances=dict(bboxes=boxes, labels=gt.labels),
            ignored_instances=dict(bboxes=ign.bboxes.tensor.reshape(-1, 4), labels=ign.labels),
            pred_instances=dict(bboxes=boxes, labels=gt.labels, scores=torch.ones(len(boxes))))])
    assert n_obj > 16
    assert metric.evaluate(len(ds))['pascal_voc/mAP'] == pytest.approx(1.0)
