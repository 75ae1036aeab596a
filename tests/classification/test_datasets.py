import os
import os.path as osp
import pickle

import numpy as np
import pytest
import torch

from mmkd_green.classification.datasets import (CIFAR10Pickle, CIFAR100Pickle, TinyImageNet,
                                                load_cifar_batch)
from mmkd_green.classification.datasets.cifar import holdout_indices
from cls_helpers import write_cifar, write_tiny_imagenet

PIPE = [dict(type='ClsRandomCrop', size=32, padding=4), dict(type='ClsRandomFlip'),
        dict(type='ClsRandomRotate', degrees=15), dict(type='PackClsInputs')]


@pytest.mark.parametrize('bytes_keys', [False, True])
def test_cifar10_both_key_styles_any_batches(tmp_path, bytes_keys):
    folder = write_cifar(str(tmp_path / 'cifar-10-batches-py'), n_batches=3, per_batch=10,
                         bytes_keys=bytes_keys)
    os.remove(osp.join(folder, 'data_batch_2'))           # only some batches present
    raw = pickle.load(open(osp.join(folder, 'data_batch_1'), 'rb'), encoding='bytes')
    assert all(isinstance(k, bytes if bytes_keys else str) for k in raw)
    train = CIFAR10Pickle(data_root=str(tmp_path), pipeline=PIPE)
    assert len(train) == 20
    assert train.metainfo['classes'][3] == 'c3'                 # names from batches.meta
    # batch order 1, 3: sample 10 is the first image of data_batch_3
    b3 = load_cifar_batch(osp.join(folder, 'data_batch_3'))
    assert np.array_equal(train.images[10], b3['data'][0].reshape(3, 32, 32))
    item = train[0]
    assert item['inputs'].shape == (3, 32, 32) and item['inputs'].dtype == torch.uint8
    assert int(item['data_samples'].gt_label) == 0
    test = CIFAR10Pickle(data_root=folder, test_mode=True, pipeline=[dict(type='PackClsInputs')],
                         indices=5)
    assert len(test) == 5
    assert torch.equal(test[1]['inputs'], torch.from_numpy(test.images[1]))


def test_cifar100_fine_labels(tmp_path):
    write_cifar(str(tmp_path / 'cifar-100-python'), per_batch=150, hundred=True, bytes_keys=True)
    ds = CIFAR100Pickle(data_root=str(tmp_path), pipeline=[dict(type='PackClsInputs')])
    assert len(ds) == 300 and len(ds.metainfo['classes']) == 100
    assert int(ds[101]['data_samples'].gt_label) == 1


def test_cifar_missing_files_name_layout(tmp_path):
    with pytest.raises(FileNotFoundError, match='data_batch_1 .. data_batch_5'):
        CIFAR10Pickle(data_root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match='meta, train, test'):
        CIFAR100Pickle(data_root=str(tmp_path))


def test_cifar_refuses_foreign_pickles(tmp_path):
    folder = tmp_path / 'cifar-10-batches-py'
    folder.mkdir()
    with open(folder / 'data_batch_1', 'wb') as f:
        pickle.dump({'data': np.zeros((1, 3072), np.uint8), 'labels': [0], 'x': os.getcwd}, f)
    with pytest.raises(pickle.UnpicklingError, match='refusing'):
        CIFAR10Pickle(data_root=str(tmp_path))


def test_tiny_imagenet_tree(tmp_path):
    root = write_tiny_imagenet(str(tmp_path))
    train = TinyImageNet(data_root=root, pipeline=[dict(type='ClsRandomCrop', size=64, padding=4),
                                                   dict(type='PackClsInputs')])
    assert len(train) == 9
    assert train.metainfo['wnids'] == ('n001', 'n002', 'n003')     # sorted
    assert train.metainfo['classes'][0] == 'thing n001'
    item = train[0]                       # the greyscale one comes back as RGB
    assert item['inputs'].shape == (3, 64, 64) and int(item['data_samples'].gt_label) == 0
    val = TinyImageNet(data_root=osp.join(root, 'tiny-imagenet-200'), test_mode=True,
                       pipeline=[dict(type='PackClsInputs')])
    assert [int(val[i]['data_samples'].gt_label) for i in range(3)] == [0, 1, 2]
    assert val[2]['data_samples'].img_path.endswith('val_2.JPEG')


def test_tiny_imagenet_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match='val_annotations.txt'):
        TinyImageNet(data_root=str(tmp_path))
    root = write_tiny_imagenet(str(tmp_path / 'x'))
    os.remove(osp.join(root, 'tiny-imagenet-200', 'val', 'val_annotations.txt'))
    with pytest.raises(FileNotFoundError, match='val_annotations.txt'):
        TinyImageNet(data_root=root, split='val')


def test_augmentation_geometry():
    from mmkd_green.registry import TRANSFORMS
    img = torch.arange(3 * 32 * 32, dtype=torch.int32).reshape(3, 32, 32).to(torch.uint8)
    torch.manual_seed(0)
    crop = TRANSFORMS.build(dict(type='ClsRandomCrop', size=32, padding=4))
    out = crop(dict(img=img))['img']
    assert out.shape == (3, 32, 32)
    flip = TRANSFORMS.build(dict(type='ClsRandomFlip', prob=1.0))
    assert torch.equal(flip(dict(img=img))['img'], img.flip(-1))
    rot = TRANSFORMS.build(dict(type='ClsRandomRotate', degrees=0))
    assert torch.equal(rot(dict(img=img))['img'], img)
    with pytest.raises(TypeError, match='CHW tensor'):
        crop(dict(img=img.numpy()))


def test_holdout_split_is_disjoint_stratified_and_fixed():
    labels = np.repeat(np.arange(10), 37)
    parts = holdout_indices(labels, 0.1, seed=3)
    assert not set(parts['train']) & set(parts['holdout'])
    assert len(parts['train']) + len(parts['holdout']) == len(labels)
    assert np.bincount(labels[parts['holdout']]).tolist() == [4] * 10   # round(0.1 * 37)
    again = holdout_indices(labels, 0.1, seed=3)
    assert np.array_equal(parts['holdout'], again['holdout'])
    assert not np.array_equal(parts['holdout'], holdout_indices(labels, 0.1, seed=4)['holdout'])


def test_holdout_dataset_parts(tmp_path):
    write_cifar(str(tmp_path / 'cifar-10-batches-py'), n_batches=2, per_batch=40)
    cifar_root = str(tmp_path)
    full = CIFAR10Pickle(data_root=cifar_root)
    tr = CIFAR10Pickle(data_root=cifar_root, holdout=dict(fraction=0.25, part='train'))
    ho = CIFAR10Pickle(data_root=cifar_root, holdout=dict(fraction=0.25, part='holdout'))
    assert len(tr) + len(ho) == len(full) == 80
    rows = {bytes(x) for x in tr.images}
    assert not any(bytes(x) in rows for x in ho.images)
    with pytest.raises(ValueError, match='test split'):
        CIFAR10Pickle(data_root=cifar_root, test_mode=True, holdout=dict(fraction=0.1))


def test_cifar_reader_names_files_and_warns_when_not_official(tmp_path):
    import io
    import logging

    from mmengine.logging import MMLogger
    write_cifar(str(tmp_path / 'cifar-10-batches-py'), n_batches=2, per_batch=40)
    buf, logger = io.StringIO(), MMLogger.get_current_instance()
    handler = logging.StreamHandler(buf)
    logger.addHandler(handler)
    try:
        CIFAR10Pickle(data_root=str(tmp_path))
    finally:
        logger.removeHandler(handler)
    text = buf.getvalue()
    assert "80 images from ['data_batch_1', 'data_batch_2']" in text
    assert 'not the official train set' in text and 'data_batch_5' in text
