"""Test helpers (a uniquely named module, so every test package can have its own conftest):
generated CIFAR pickles / Tiny-ImageNet trees and a helper that shrinks a real config."""
import os
import os.path as osp
import pickle

import numpy as np
import torch

from mmkd_green import apis

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_MODELS = {
    'CifarResNet18': dict(base_channels=4),
    'CifarMobileNetV2': dict(widen_factor=0.25, last_channels=32),
    'CifarShuffleNetV2': dict(widen_factor=0.5),
    'WideResNet': dict(depth=10, widen_factor=1),
}


def write_cifar(folder, n_batches=2, per_batch=24, bytes_keys=False, hundred=False, seed=0,
                num_classes=None):
    """Official-layout CIFAR pickles; ``bytes_keys`` mimics the original Python-2 files."""
    rng = np.random.default_rng(seed)
    num_classes = num_classes or (100 if hundred else 10)
    os.makedirs(folder, exist_ok=True)
    k = (lambda s: s.encode()) if bytes_keys else (lambda s: s)
    label_key = 'fine_labels' if hundred else 'labels'

    def batch(n, name):
        labels = (np.arange(n) % num_classes).tolist()
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        # class-dependent mean colour so that tiny models can learn something
        data[:, :1024] = np.clip(data[:, :1024] // 4 + 20 * np.asarray(labels)[:, None] % 256,
                                 0, 255)
        d = {k('data'): data, k(label_key): labels, k('batch_label'): k(name),
             k('filenames'): [k(f'{name}_{i}.png') for i in range(n)]}
        return d

    files = ({'train': batch(n_batches * per_batch, 'train'), 'test': batch(per_batch, 'test')}
             if hundred else
             {**{f'data_batch_{i + 1}': batch(per_batch, f'b{i + 1}') for i in range(n_batches)},
              'test_batch': batch(per_batch, 'test')})
    names = [f'c{i}' for i in range(num_classes)]
    files['meta' if hundred else 'batches.meta'] = {
        k('fine_label_names' if hundred else 'label_names'): [k(n) for n in names]}
    for name, obj in files.items():
        with open(osp.join(folder, name), 'wb') as f:
            pickle.dump(obj, f, protocol=2)
    return folder


def write_tiny_imagenet(root, wnids=('n001', 'n002', 'n003'), per_class=3, size=64):
    """A ``tiny-imagenet-200`` tree with JPEGs (one greyscale) and val annotations."""
    from PIL import Image
    rng = np.random.default_rng(0)
    base = osp.join(root, 'tiny-imagenet-200')
    os.makedirs(osp.join(base, 'val', 'images'), exist_ok=True)
    with open(osp.join(base, 'wnids.txt'), 'w') as f:
        f.write('\n'.join(reversed(wnids)) + '\n')      # unsorted on purpose
    with open(osp.join(base, 'words.txt'), 'w') as f:
        f.writelines(f'{w}\tthing {w}\n' for w in wnids)
    ann = []
    for ci, w in enumerate(wnids):
        d = osp.join(base, 'train', w, 'images')
        os.makedirs(d, exist_ok=True)
        for j in range(per_class):
            arr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            img = Image.fromarray(arr)
            if ci == 0 and j == 0:
                img = img.convert('L')
            img.save(osp.join(d, f'{w}_{j}.JPEG'))
        name = f'val_{ci}.JPEG'
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(
            osp.join(base, 'val', 'images', name))
        ann.append(f'{name}\t{w}\t0\t0\t10\t10\n')
    with open(osp.join(base, 'val', 'val_annotations.txt'), 'w') as f:
        f.writelines(ann)
    return root



def save_teacher(cfg_backbone: dict, path: str) -> str:
    """A checkpoint of a freshly initialised teacher (``backbone.*`` keys, like a real run)."""
    from mmkd_green.registry import MODELS
    torch.manual_seed(0)
    net = MODELS.build(dict(cfg_backbone))
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in net.state_dict().items()}}, path)
    return path


def load(name, **shrink_args):
    """``configs/<name>`` loaded with ``apis.load_config``, shrunk when ``shrink_args`` are given
    (``data_root`` and ``work_dir`` first, see :func:`shrink`)."""
    cfg = apis.load_config(osp.join(ROOT, 'configs', name))
    return shrink(cfg, **shrink_args) if shrink_args else cfg


def shrink(cfg, data_root, work_dir, epochs=1, batch=8, tiny_models=True, teacher_ckpt=None,
           train_indices=16, val_indices=8, count_flops=False):
    """Make a real config cheap: generated data, tiny networks, 1 epoch (``apis.set_epochs``),
    no workers, a few iterations; the meter stays on (FLOP counting off unless asked: the energy
    tests cover it)."""
    apis.point_data_root(cfg, data_root)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        dl = cfg.get(key)
        if dl is not None:
            dl.batch_size, dl.num_workers, dl.persistent_workers = batch, 0, False
    if train_indices is not None:
        cfg.train_dataloader.dataset.indices = train_indices
    if val_indices is not None:
        cfg.val_dataloader.dataset.indices = val_indices
        cfg.test_dataloader = cfg.val_dataloader
    apis.set_epochs(cfg, epochs)
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = work_dir
    if tiny_models:
        for key in ('backbone', 'student', 'teacher'):
            net = cfg.model.get(key)
            if net is not None and net.type in TINY_MODELS:
                net.update(TINY_MODELS[net.type])
    if teacher_ckpt is not None:
        cfg.model.teacher_ckpt = teacher_ckpt
    for hook in cfg.custom_hooks:
        if hook.type == 'CarbonFootprintHook':
            hook.count_flops = count_flops
    return cfg
