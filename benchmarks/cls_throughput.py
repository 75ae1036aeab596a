"""Classification KD throughput: our pipeline (the training tools' path, hooks on) vs bare loops.

    python benchmarks/cls_throughput.py [--data-root ../shared/data/cifar10] [--images 12800]
        [--rounds 3] [--out result.json]

Same models and step in every arm: ResNet-18 (width 16) teacher, MobileNetV2 x0.25 student
(last layer 256), HKD with the run's stochastic τ, SGD, batch 64, the paper's augmentation.

* ``pipeline``: ``mmkd_green.apis.train`` (what ``tools/train.py`` runs) of the shipped CIFAR-10
  KD config, one epoch over ``--images`` real training images, every hook on (τ sampler, energy
  meter with FLOP counting, logger, checkpoint at the end), per-batch augmentation in the data
  preprocessor, channels_last. ``pipeline_amp``: the same with ``--amp`` (on a CPU:
  ``CPUAutocastOptimWrapper``, bf16 autocast; skipped on a CPU without native bf16).
* ``bare_channels_last``: a hand-written loop over a ready uint8 tensor (random permutation,
  the same batch augmentation, normalisation, teacher forward, student forward/backward, SGD
  step), channels_last: the best bare loop measured here. ``bare_nchw``: the same in the default
  memory format; ``bare_bf16``: channels_last under CPU bf16 autocast.

Each arm skips its first ``--warmup`` iterations (one-off kernel selection); images/s counts the
rest; the pipeline's count includes everything the tool does per epoch after them (the epoch's
meter record, the checkpoint), so an epoch of ``--images`` amortises those as a real epoch does.
Arms are interleaved over ``--rounds`` rounds; the JSON has every round and the medians, and per
precision the ratio of the pipeline to its bare loop (``ratio_fp32`` = pipeline /
bare_channels_last, ``ratio_amp`` = pipeline_amp / bare_bf16) and ``ratio`` = the faster
pipeline / the best bare loop.
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

from mmkd_green import apis  # noqa: E402

CONFIG = osp.join(ROOT, 'configs', 'cifar10', 'kd_hkd_stochastic_resnet18_mobilenetv2.py')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data-root', default=osp.join(ROOT, '..', 'shared', 'data', 'cifar10'))
    p.add_argument('--images', type=int, default=12800, help='training images per epoch')
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--warmup', type=int, default=10, help='iterations not timed')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--teacher-width', type=int, default=16)
    p.add_argument('--student-width', type=float, default=0.25)
    p.add_argument('--student-last', type=int, default=256)
    p.add_argument('--arms', nargs='+',
                   default=['pipeline', 'pipeline_amp', 'bare_channels_last', 'bare_nchw',
                            'bare_bf16'])
    p.add_argument('--out', help='also write the JSON here')
    return p.parse_args(argv)


def _nets(a):
    from mmkd_green.registry import MODELS
    teacher = MODELS.build(dict(type='CifarResNet18', num_classes=10,
                                base_channels=a.teacher_width))
    student = MODELS.build(dict(type='CifarMobileNetV2', num_classes=10,
                                widen_factor=a.student_width, last_channels=a.student_last))
    return teacher, student


def _teacher_ckpt(a, folder):
    torch.manual_seed(0)
    teacher, _ = _nets(a)
    path = osp.join(folder, 'teacher.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in teacher.state_dict().items()}},
               path)
    return path


def run_pipeline(a, folder, rnd, amp=False):
    from mmengine.hooks import Hook

    from mmkd_green.registry import HOOKS

    marks = {}

    @HOOKS.register_module(name='_ThroughputMarks', force=True)
    class _Marks(Hook):
        priority = 'LOWEST'

        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
            if runner.iter == a.warmup:   # runner.iter counts the finished iterations
                marks['start'] = time.perf_counter()
                marks['start_iter'] = runner.iter

        def after_train_epoch(self, runner):
            marks['end'] = time.perf_counter()
            marks['end_iter'] = runner.iter

    cfg = apis.load_config(CONFIG, work_dir=osp.join(folder, f'pipeline_{rnd}_{amp}'), amp=amp,
                           cfg_options={
        'model.teacher_ckpt': _teacher_ckpt(a, folder),
        'model.teacher.base_channels': a.teacher_width,
        'model.student.widen_factor': a.student_width,
        'model.student.last_channels': a.student_last,
        'train_dataloader.batch_size': a.batch_size,
        'train_dataloader.num_workers': 0, 'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.indices': a.images,
        'log_level': 'WARNING'})
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None   # training throughput only
    apis.point_data_root(cfg, a.data_root)
    apis.set_epochs(cfg, 1)
    cfg.custom_hooks = list(cfg.custom_hooks) + [dict(type='_ThroughputMarks')]
    apis.train(cfg)
    iters = marks['end_iter'] - marks['start_iter'] - 1   # iterations after the mark
    return iters * a.batch_size / (marks['end'] - marks['start'])


def _train_tensor(a):
    from mmkd_green.classification.datasets import CIFAR10Pickle
    ds = CIFAR10Pickle(data_root=a.data_root, indices=a.images)
    return torch.from_numpy(ds.images), torch.from_numpy(ds.labels)


def run_bare(a, data, channels_last=True, bf16=False):
    from mmkd_green.classification.datasets.batch_augment import BatchAugment
    from mmkd_green.losses import HKDLoss
    from mmkd_green.temperature import UniformTemperature
    images, labels = data
    torch.manual_seed(0)
    teacher, student = _nets(a)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    teacher.to(memory_format=fmt).eval()
    student.to(memory_format=fmt).train()
    for p in teacher.parameters():
        p.requires_grad_(False)
    opt = torch.optim.SGD(student.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    loss_fn, sampler, aug = HKDLoss(alpha=0.95), UniformTemperature(seed=0), BatchAugment(seed=0)
    mean = torch.tensor((125.307, 122.961, 113.8575)).view(1, 3, 1, 1)
    std = torch.tensor((51.5865, 50.847, 51.255)).view(1, 3, 1, 1)
    perm = torch.randperm(len(images))
    n_iter = len(images) // a.batch_size
    start = None
    for it in range(n_iter):
        if it == a.warmup:
            start = time.perf_counter()
        idx = perm[it * a.batch_size:(it + 1) * a.batch_size]
        x = ((aug(images[idx], it) - mean) / std).contiguous(memory_format=fmt)
        y = labels[idx]
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            with torch.no_grad():
                t = teacher(x)
            s = student(x)
        loss = loss_fn(s.float(), t.float(), y, tau=sampler(it))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (n_iter - a.warmup) * a.batch_size / (time.perf_counter() - start)


def main(argv=None):
    a = parse_args(argv)
    if not osp.isdir(osp.join(a.data_root, 'cifar-10-batches-py')):
        raise SystemExit(f'no CIFAR-10 pickles under {a.data_root}; pass --data-root')
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', os.cpu_count() or 1)))
    from mmkd_green.utils.cpu_autocast import cpu_bf16_supported
    if not cpu_bf16_supported():   # bf16 arms would only measure an emulation
        a.arms = [arm for arm in a.arms if arm not in ('pipeline_amp', 'bare_bf16')]
    data = _train_tensor(a)
    rounds = {arm: [] for arm in a.arms}
    bare = dict(bare_channels_last=dict(), bare_nchw=dict(channels_last=False),
                bare_bf16=dict(bf16=True))
    with tempfile.TemporaryDirectory() as folder:
        for rnd in range(a.rounds):
            for arm in a.arms:
                ips = (run_pipeline(a, folder, rnd, amp=arm == 'pipeline_amp')
                       if arm.startswith('pipeline') else run_bare(a, data, **bare[arm]))
                rounds[arm].append(ips)
                print(f'round {rnd}: {arm} {ips:.1f} img/s', file=sys.stderr)
    med = {arm: statistics.median(v) for arm, v in rounds.items()}
    bares = [arm for arm in med if arm.startswith('bare')]
    best = max(bares, key=med.get) if bares else None
    pipes = [arm for arm in med if arm.startswith('pipeline')]
    fastest = max(pipes, key=med.get) if pipes else None

    def ratio(p, b):
        return med[p] / med[b] if p in med and b in med else None

    out = dict(images=a.images, batch_size=a.batch_size, warmup_iters=a.warmup,
               threads=torch.get_num_threads(), rounds=rounds, median_images_per_s=med,
               best_bare=best, fastest_pipeline=fastest,
               ratio=ratio(fastest, best) if fastest and best else None,
               ratio_fp32=ratio('pipeline', 'bare_channels_last'),
               ratio_amp=ratio('pipeline_amp', 'bare_bf16'),
               ratio_per_round=([p / b for p, b in zip(rounds[fastest], rounds[best])]
                                if fastest and best else None))
    from mmkd_green.energy.records import print_json
    print_json(out, a.out)
    return out


if __name__ == '__main__':
    main()
