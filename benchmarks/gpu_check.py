"""GPU check of the energy meter (<= 5 minutes on one CUDA GPU, no download, no data needed).

    python benchmarks/gpu_check.py [--images 25600] [--epochs 2] [--out gpu_check.json]

A short classification KD run (configs/cifar10/kd_hkd_stochastic_resnet18_mobilenetv2.py: random
ResNet-18 teacher -> MobileNetV2 student, τ ~ U[2, 20]) on synthetic CIFAR-shaped data written in
the CIFAR pickle layout to a temporary folder, in three variants: fp32, AMP (``--amp``) and
channels_last (model converted in ``before_run``). Each run has CarbonFootprintHook
(``gpu_devices='auto'``) and, over the same window, :class:`NvmlCompare`, which reads the model's
GPU two ways per epoch (from ``before_train_epoch`` to ``after_train_epoch``):

* ``counter_j``: ``nvmlDeviceGetTotalEnergyConsumption`` (mJ counter);
* ``sampling_j``: ``nvmlDeviceGetPowerUsage`` every ``--poll`` s, trapezoid rule.

It prints one JSON object: per variant, the hook's GPU component (method, source, detail), whether
every record is ``measured``, the run's kWh/CO2/FLOPs, the images/s, and per epoch the two NVML
energies with ``rel_diff = (sampling - counter) / counter``. Note: on recent GPUs
``nvmlDeviceGetPowerUsage`` is itself a ~1 s moving average, so short epochs differ more.
With ``--device cpu`` (no GPU) it runs a tiny version (256 images unless ``--images`` is given)
to check the plumbing; the GPU parts then report ``unavailable``.
"""
import argparse
import json
import os
import os.path as osp
import pickle
import sys
import tempfile
import threading
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402

CONFIG = 'configs/cifar10/kd_hkd_stochastic_resnet18_mobilenetv2.py'
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def write_fake_cifar(folder, n_train, n_test, seed=0):
    """Random uint8 images in the CIFAR-10 python layout (cifar-10-batches-py/)."""
    rng = np.random.default_rng(seed)
    out = osp.join(folder, 'cifar-10-batches-py')
    os.makedirs(out, exist_ok=True)
    for name, n in (('data_batch_1', n_train), ('test_batch', n_test)):
        batch = {'data': rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 'labels': rng.integers(0, 10, n).tolist()}
        with open(osp.join(out, name), 'wb') as f:
            pickle.dump(batch, f)
    with open(osp.join(out, 'batches.meta'), 'wb') as f:
        pickle.dump({'label_names': [f'c{i}' for i in range(10)]}, f)
    return folder


class NvmlCompare(Hook):
    """NVML energy counter vs power sampling of the model's GPU over each training epoch."""

    priority = 'VERY_HIGH'

    def __init__(self, poll_s=0.1):
        self.poll_s, self.epochs, self.error = poll_s, [], None
        self.counter = self.sampling = None

    def before_train(self, runner):
        from mmkd_green.energy.sources import NvmlGpuSource
        devices = sorted({p.device.index for p in runner.model.parameters() if p.is_cuda})
        if not devices:
            self.error = 'model not on CUDA'
            return
        try:
            self.counter = NvmlGpuSource(devices, mode='counter')
            self.counter.open()
            self.sampling = NvmlGpuSource(devices, mode='sampling')
            self.sampling.open()
        except Exception as err:   # noqa: BLE001
            self.error, self.counter, self.sampling = repr(err), None, None
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self):
        while not self._stop.wait(self.poll_s):
            self.sampling.poll()

    def before_train_epoch(self, runner):
        if self.counter is not None:
            torch.cuda.synchronize()
            self._t0 = time.monotonic()
            self._c0, self._s0 = self.counter.read()['gpu'], self.sampling.read()['gpu']

    def after_train_epoch(self, runner):
        if self.counter is not None:
            torch.cuda.synchronize()
            c, s = self.counter.read()['gpu'] - self._c0, self.sampling.read()['gpu'] - self._s0
            self.epochs.append(dict(seconds=time.monotonic() - self._t0, counter_j=c,
                                    sampling_j=s, rel_diff=(s - c) / c if c else None))

    def after_run(self, runner):
        if self.counter is not None:
            self._stop.set()
            self._thread.join()
            self.counter.close()
            self.sampling.close()


class ChannelsLast(Hook):
    priority = 'VERY_HIGH'

    def before_run(self, runner):
        runner.model.to(memory_format=torch.channels_last)   # the teacher follows (mixin)


class Throughput(Hook):
    def __init__(self):
        self.images, self.seconds = 0, 0.0

    def before_train_epoch(self, runner):
        self._t0 = time.perf_counter()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.images += len(data_batch['inputs'])

    def after_train_epoch(self, runner):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.seconds += time.perf_counter() - self._t0


def run_variant(name, args, data_root, teacher_ckpt, work_root):
    from mmkd_green.apis import build_runner, load_config, point_data_root, set_epochs
    from mmkd_green.energy import load_run_totals
    cfg = load_config(osp.join(ROOT, CONFIG), work_dir=osp.join(work_root, name),
                      amp=name == 'amp', cfg_options={'model.teacher_ckpt': teacher_ckpt})
    set_epochs(cfg, args.epochs)
    point_data_root(cfg, data_root)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].batch_size = args.batch_size
        cfg[loader].num_workers = args.workers
        cfg[loader].persistent_workers = args.workers > 0
    compare, speed = NvmlCompare(args.poll), Throughput()
    cfg.custom_hooks = [dict(type='TemperatureHook'),
                        dict(type='CarbonFootprintHook', gpu_devices='auto', poll_interval_s=0.5)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=10 ** 6)
    runner = build_runner(cfg)
    for hook in (compare, speed) + ((ChannelsLast(),) if name == 'channels_last' else ()):
        runner.register_hook(hook)
    runner.train()
    totals = load_run_totals(cfg.work_dir)
    lines = [json.loads(line) for line in open(osp.join(cfg.work_dir, 'carbon', 'carbon.jsonl'))]
    segs = [r for r in lines if r.get('type') in ('epoch', 'final')]
    gpu = segs[0]['components'].get('gpu') if segs else None
    return dict(gpu_component=gpu and {k: gpu.get(k) for k in ('method', 'source', 'detail')},
                all_measured=all(r['measured'] for r in segs), finished=totals['finished'],
                energy_kwh_it=totals['energy_kwh_it'], co2_g=totals['co2_g'],
                train_flops=totals['train_flops'], components=totals['components'],
                images_per_s=speed.images / speed.seconds if speed.seconds else None,
                nvml_compare=compare.epochs, nvml_compare_error=compare.error)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=None,
                        help='synthetic training images (default 25600 on CUDA, 256 on CPU)')
    parser.add_argument('--epochs', type=int, default=2)
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--workers', type=int, default=4)
    parser.add_argument('--poll', type=float, default=0.1, help='power sampling period (s)')
    parser.add_argument('--variants', default='fp32,amp,channels_last')
    parser.add_argument('--device', choices=('cuda', 'cpu'), default='cuda')
    parser.add_argument('--out', default=None, help='also write the JSON here')
    args = parser.parse_args(argv)
    if args.images is None:
        args.images = 25600 if args.device == 'cuda' else 256
    if args.device == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('gpu_check: torch sees no CUDA device. Run it on a GPU machine (or '
                         '`--device cpu` to check the plumbing only).')
    import mmkd_green  # noqa: F401
    from mmkd_green.classification.backbones import CifarResNet18
    t0 = time.monotonic()
    result = dict(device=torch.cuda.get_device_name(0) if args.device == 'cuda' else 'cpu',
                  torch=torch.__version__, images=args.images, epochs=args.epochs,
                  batch_size=args.batch_size, variants={})
    with tempfile.TemporaryDirectory() as tmp:
        data_root = write_fake_cifar(osp.join(tmp, 'data'), args.images,
                                     max(args.batch_size, 512))
        teacher_ckpt = osp.join(tmp, 'teacher.pth')
        torch.manual_seed(0)
        torch.save(CifarResNet18(num_classes=10).state_dict(), teacher_ckpt)
        for name in args.variants.split(','):
            result['variants'][name] = run_variant(name, args, data_root, teacher_ckpt, tmp)
    result['wall_s'] = time.monotonic() - t0
    from mmkd_green.energy.records import print_json
    print_json(result, args.out)   # (non-JSON values, e.g. dtypes, as their str())
    return result


if __name__ == '__main__':
    main()
