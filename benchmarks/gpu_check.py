"""The GPU smoke check: one script for the first GPU run (≤ 8 minutes on one H200, no download).

    python benchmarks/gpu_check.py [--out gpu_check.json]          # on a CUDA machine
    python benchmarks/gpu_check.py --device cpu                    # CPU plumbing only (CI)

It runs every check below, prints one JSON object (``checks``: per check ``ok`` plus what it
measured or the error) and exits 1 if any check failed (2 on a usage error). On CUDA:

* ``nms_cuda``: ``mmcv.ops.nms`` on CUDA tensors (an mmcv wheel built without CUDA ops fails);
* ``kd_fp32`` / ``kd_channels_last`` / ``kd_amp``: one epoch of classification KD
  (configs/cifar10/kd_hkd_stochastic_resnet18_mobilenetv2.py, random ResNet-18 teacher, synthetic
  CIFAR-shaped data) with CarbonFootprintHook and :class:`NvmlCompare` (NVML energy counter vs
  sampled power per epoch: ``rel_diff = (sampling − counter) / counter``), images/s;
* ``kd_sync_count``: the first KD iterations under ``torch.cuda.set_sync_debug_mode('warn')``,
  counting the host syncs each raises (warnings per iteration);
* ``kd_torchrun_nccl``: ``torchrun --nproc_per_node=1`` of one KD epoch (NCCL, τ, the meter's
  collectives, FLOP count in the run totals);
* ``dfkd_<method>_<amp>``: DeepInversion and CMI short rounds with ``amp`` off/on (dtype chosen,
  fraction of zero image/latent gradients, seconds per step, skipped fp16 steps);
* ``dfkd_checkpoint_resume``: the shipped CMI config (WRN-40-2 → WRN-16-1, random teacher,
  small rounds) trained one epoch with ``train_cfg.bank_storage='checkpoint'`` (banks inside the
  checkpoint), then resumed for a second epoch as ``tools/dfkd.py --resume`` does (mmengine maps
  the checkpoint to the GPU): bank sizes, where the banks live, finite losses;
* ``ssd_kd_amp_per_sample_tau``: one epoch of the toy SSD KD (configs/toy/ssd_kd_stochastic_toy.py,
  random toy teacher, generated toy VOC) with ``--amp`` and ``PerSampleUniformTemperature``:
  the optim wrapper and dtype ``--amp`` chose, τ of shape ``(B,)`` every iteration, finite losses;
* ``qat_amp_refused``: QAT with ``--amp`` stops in ``apis.load_config`` naming the fix.

With ``--device cpu`` the checks that need CUDA report ``skipped`` and the rest run tiny versions
(256 images, 2-step rounds, 16 toy VOC images) to check the plumbing; the ``--amp`` variants run
there only on a CPU with native bf16 (else ``skipped``). Status: written for the first GPU run
and run on CPU only; until a GPU has run it, its GPU results are unknown (see README).
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


def run_variant(name, args, data_root, teacher_ckpt, work_root, extra_hooks=()):
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
    for hook in (compare, speed, *extra_hooks) + (
            (ChannelsLast(),) if name == 'channels_last' else ()):
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


class SyncCounter(Hook):
    """Host syncs of the first ``iters`` KD iterations (``set_sync_debug_mode('warn')``)."""

    def __init__(self, iters=3):
        self.iters, self.per_iter, self._ctx = iters, [], None

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter < self.iters:
            import warnings
            self._ctx = warnings.catch_warnings(record=True)
            self._seen = self._ctx.__enter__()
            warnings.simplefilter('always')
            torch.cuda.set_sync_debug_mode('warn')

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self._ctx is not None:
            torch.cuda.set_sync_debug_mode(0)
            self._ctx.__exit__(None, None, None)
            self.per_iter.append(sum('synchroniz' in str(w.message) for w in self._seen))
            self._ctx = None


def check(results, name, fn, needs_cuda, device):
    """Run one check into ``results[name]``: ``ok`` + its measurements, or the error."""
    if needs_cuda and device != 'cuda':
        results[name] = dict(ok=None, skipped='needs CUDA')
        return
    t0 = time.monotonic()
    try:
        out = fn() or {}
        results[name] = dict(ok=bool(out.pop('ok', True)), **out)
    except Exception as err:   # noqa: BLE001  (every failure is reported, none stops the rest)
        results[name] = dict(ok=False, error=f'{type(err).__name__}: {err}'[:2000])
    results[name]['seconds'] = round(time.monotonic() - t0, 2)


def check_nms_cuda():
    from mmcv.ops import nms
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]],
                         device='cuda')
    _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7], device='cuda'), 0.5)
    return dict(ok=keep.tolist() == [0, 2], kept=keep.tolist())


def check_qat_amp_refused():
    from mmkd_green.apis import load_config
    try:
        load_config(osp.join(ROOT, 'configs/cifar10/qat_mobilenetv2_student.py'), amp=True)
    except ValueError as err:
        return dict(ok='without --amp' in str(err), message=str(err)[:300])
    return dict(ok=False, message='QAT with --amp was accepted')


def check_torchrun(args, data_root, teacher_ckpt, work_root):
    """One KD epoch under ``torchrun --nproc_per_node=1`` (NCCL on CUDA)."""
    import subprocess
    from mmkd_green.apis import load_config, point_data_root, set_epochs
    from mmkd_green.energy import load_run_totals
    work_dir = osp.join(work_root, 'torchrun')
    cfg = load_config(osp.join(ROOT, CONFIG), work_dir=work_dir, launcher='pytorch',
                      cfg_options={'model.teacher_ckpt': teacher_ckpt})
    set_epochs(cfg, 1)
    point_data_root(cfg, data_root)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].batch_size, cfg[loader].num_workers = args.batch_size, 0
        cfg[loader].persistent_workers = False
    path = osp.join(work_root, 'torchrun_cfg.py')
    cfg.dump(path)
    proc = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=1',
                           '--master_port=29533', '-m', 'mmkd_green.apis', 'train', path,
                           '--launcher', 'pytorch', '--work-dir', work_dir],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    if proc.returncode:
        return dict(ok=False, returncode=proc.returncode, stderr=proc.stderr[-1500:])
    totals = load_run_totals(work_dir)
    return dict(ok=bool(totals['finished']) and (totals['train_flops'] or 0) > 0,
                backend='nccl' if torch.cuda.is_available() else 'gloo',
                train_flops=totals['train_flops'], energy_kwh_it=totals['energy_kwh_it'])


def check_synthesis(method, amp, device):
    """A short synthesis round: dtype, zero-gradient fraction at the teacher's input, s/step."""
    from mmkd_green.classification.backbones import WideResNet
    from mmkd_green.dfkd.synthesis import CMISynthesizer, DeepInversionSynthesizer
    torch.manual_seed(0)
    cuda = device == 'cuda'
    batch, steps = (128, 20) if cuda else (8, 2)
    teacher = WideResNet(depth=16, widen_factor=2, num_classes=10).to(device).eval()
    student = WideResNet(depth=16, widen_factor=1, num_classes=10).to(device)
    kw = dict(synthesis_batch_size=batch, iterations=steps, amp=amp)
    synth = (CMISynthesizer(10, feature_bank_size=4 * batch, n_neg=2 * batch, **kw)
             if method == 'cmi' else DeepInversionSynthesizer(10, **kw)).bind(teacher, student)
    synth.to(device)
    zero = []
    first = next(m for m in teacher.modules() if isinstance(m, torch.nn.Conv2d))

    def pre(module, inputs):
        if inputs[0].requires_grad:
            inputs[0].register_hook(lambda g: zero.append((g == 0).float().mean()))
    handle = first.register_forward_pre_hook(pre)
    try:
        synth.synthesize()                              # warm-up round (kernels, allocator)
        zero.clear()
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = synth.synthesize()
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    finally:
        handle.remove()
    frac = float(torch.stack(zero).mean()) if zero else None
    losses = out['losses']
    return dict(ok=frac is not None and frac < 0.5 and all(v == v for v in losses.values()),
                dtype=str(synth.precision.dtype), zero_grad_fraction=frac,
                seconds_per_step=seconds / steps, skipped_steps=losses.get('skipped_steps'),
                loss_total=losses.get('total'))


def check_dfkd_resume(device, work_root):
    """One DFKD epoch saved with ``bank_storage='checkpoint'``, then ``--resume`` for a second."""
    from mmkd_green import apis
    from mmkd_green.classification.backbones import WideResNet
    from mmkd_green.dfkd.pipeline import config_name, prepare_config
    cuda = device == 'cuda'
    batch, steps, kd_steps = (64, 5, 10) if cuda else (8, 2, 2)
    teacher_ckpt = osp.join(work_root, 'wrn40_2_random.pth')
    torch.manual_seed(0)
    torch.save(WideResNet(depth=40, widen_factor=2, num_classes=10).state_dict(), teacher_ckpt)
    work_dir = osp.join(work_root, 'dfkd_resume')
    options = {'model.synthesizer.synthesis_batch_size': batch,
               'model.synthesizer.iterations': steps,
               'model.synthesizer.feature_bank_size': 4 * batch,
               'model.synthesizer.n_neg': 2 * batch, 'train_dataloader.batch_size': batch,
               'train_cfg.ep_steps': 2 * kd_steps, 'train_cfg.kd_steps': kd_steps,
               'train_cfg.bank_storage': 'checkpoint', 'train_cfg.grid_interval': 0,
               'default_hooks.checkpoint.interval': 1, 'log_level': 'WARNING'}

    def train(epochs, resume):
        cfg = apis.load_config(osp.join(ROOT, 'configs', 'dfkd', config_name('cmi')),
                               work_dir=work_dir, cfg_options=options, resume=resume)
        runner = apis.build_runner(prepare_config(cfg, teacher=teacher_ckpt, epochs=epochs,
                                                  progress=False))
        runner.train()
        return runner

    first = train(1, None)
    ckpt = torch.load(osp.join(work_dir, 'epoch_1.pth'), map_location='cpu', weights_only=False)
    extra = ckpt['state_dict']['_extra_state']['synthesizer']['_extra_state']
    runner = train(2, True)                      # latest checkpoint of the work dir
    synth = runner.model.synthesizer
    rounds = 2 * 2                               # (ep_steps / kd_steps) rounds x 2 epochs
    losses = runner.message_hub.get_scalar('train/synth_total').data[0]
    model_device = next(runner.model.parameters()).device
    out = dict(banks_in_checkpoint='bank' in extra and 'feature_bank' in extra,
               epochs=(first.epoch, runner.epoch), bank_images=len(synth.bank),
               expected_images=rounds * batch, feature_rows=len(synth.feature_bank),
               image_bank_device=str(synth.bank.device),
               feature_bank_device=str(synth.feature_bank.data.device),
               model_device=str(model_device), synth_total_finite=bool(np.isfinite(losses).all()))
    out['ok'] = (out['banks_in_checkpoint'] and out['epochs'] == (1, 2)
                 and out['bank_images'] == out['expected_images']
                 and out['feature_rows'] == min(rounds * batch, 4 * batch)
                 and synth.feature_bank.data.device == model_device
                 and out['synth_total_finite'])
    return out


class TauProbe(Hook):
    """Per train iteration: the shape of the τ published for it, its batch size and its loss."""

    def __init__(self):
        self.tau_shapes, self.batches, self.losses = [], [], []

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        from mmkd_green.temperature.current import get_current_temperature
        tau = get_current_temperature(runner.message_hub)
        self.tau_shapes.append(list(getattr(tau, 'shape', ())))
        self.batches.append(len(data_batch['inputs']))
        loss = outputs['loss']
        self.losses.append(float(loss.detach() if torch.is_tensor(loss) else loss))  # a sync


def check_ssd_kd_amp(device, work_root, amp):
    """One toy SSD KD epoch with ``--amp`` (``amp``) and per-sample τ."""
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    import mmkd_green.detection  # noqa: F401  (registers)
    from mmkd_green import apis
    from mmkd_green.detection.toy_voc import make_toy_voc
    init_default_scope('mmdet')
    n_images = 240 if device == 'cuda' else 16
    data_root = osp.join(work_root, 'toy_voc') + '/'
    make_toy_voc(data_root, num_trainval=n_images, num_test=4, seed=0)
    teacher_config = osp.join(ROOT, 'configs', 'toy', 'ssd_teacher_toy.py')
    from mmengine.logging import MMLogger
    # the current logger from here on: init_weights' INFO lines would land in the JSON on stdout
    MMLogger.get_instance(f'gpu_check_{time.time_ns()}', log_level='WARNING')
    torch.manual_seed(0)
    teacher = MODELS.build(apis.load_config(teacher_config).model)
    teacher.init_weights()
    teacher_ckpt = osp.join(work_root, 'ssd_teacher_random.pth')
    torch.save(dict(state_dict=teacher.state_dict(), meta=dict()), teacher_ckpt)
    cfg = apis.load_config(osp.join(ROOT, 'configs', 'toy', 'ssd_kd_stochastic_toy.py'),
                           work_dir=osp.join(work_root, 'ssd_kd_amp'), amp=amp)
    cfg.temperature = dict(type='PerSampleUniformTemperature', low=2.0, high=20.0)
    cfg.model.teacher_config, cfg.model.teacher_ckpt = teacher_config, teacher_ckpt
    apis.point_data_root(cfg, data_root)
    apis.set_epochs(cfg, 1)
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.test_dataloader = cfg.test_cfg = cfg.test_evaluator = None
    cfg.log_level = 'WARNING'
    runner = apis.build_runner(cfg)
    probe = TauProbe()
    runner.register_hook(probe)
    runner.train()
    wrapper = runner.optim_wrapper
    dtype = getattr(wrapper, 'cast_dtype', None) or getattr(wrapper, 'dtype', None)
    per_sample = bool(probe.batches) and all(
        shape == [b] for shape, b in zip(probe.tau_shapes, probe.batches))
    finite = bool(probe.losses) and all(np.isfinite(probe.losses))
    # the meter's records: a hook error (e.g. the inference-FLOP sample it keeps for runs
    # without validation) marks a segment unmeasured
    with open(osp.join(cfg.work_dir, 'carbon', 'carbon.jsonl')) as f:
        segs = [r for r in map(json.loads, f) if r.get('type') in ('epoch', 'final')]
    measured = bool(segs) and all(r['measured'] for r in segs)
    return dict(ok=per_sample and finite and measured and runner.epoch == 1 and
                (not amp or dtype in (torch.bfloat16, torch.float16)),
                meter_all_measured=measured,
                infer_flops_per_image=segs[-1].get('infer_flops_per_image') if segs else None,
                amp=amp, optim_wrapper=type(wrapper).__name__, dtype=str(dtype),
                loss_scaler_enabled=getattr(getattr(wrapper, 'loss_scaler', None), '_enabled',
                                            None),
                iterations=len(probe.losses), tau_per_sample=per_sample,
                loss_first=probe.losses[0] if probe.losses else None,
                loss_last=probe.losses[-1] if probe.losses else None, losses_finite=finite)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', type=int, default=None,
                        help='synthetic training images (default 25600 on CUDA, 256 on CPU)')
    parser.add_argument('--epochs', type=int, default=1)
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--workers', type=int, default=4)
    parser.add_argument('--poll', type=float, default=0.1, help='power sampling period (s)')
    parser.add_argument('--variants', default='fp32,channels_last,amp')
    parser.add_argument('--skip', default='', help='comma-separated check names to leave out')
    parser.add_argument('--device', choices=('cuda', 'cpu'), default='cuda')
    parser.add_argument('--out', default=None, help='also write the JSON here')
    args = parser.parse_args(argv)
    if args.images is None:
        args.images = 25600 if args.device == 'cuda' else 256
    if args.device == 'cuda' and not torch.cuda.is_available():
        print('gpu_check: torch sees no CUDA device. Run it on a GPU machine (or `--device cpu` '
              'to check the plumbing only).', file=sys.stderr)
        return 2
    import mmkd_green  # noqa: F401
    from mmkd_green.classification.backbones import CifarResNet18
    from mmkd_green.utils.cpu_autocast import cpu_bf16_supported
    t0 = time.monotonic()
    skip = set(filter(None, args.skip.split(',')))
    checks = {}
    result = dict(device=torch.cuda.get_device_name(0) if args.device == 'cuda' else 'cpu',
                  torch=torch.__version__, images=args.images, epochs=args.epochs,
                  batch_size=args.batch_size, checks=checks)
    cuda = args.device == 'cuda'

    def run(name, fn, needs_cuda=False):
        if name not in skip:
            check(checks, name, fn, needs_cuda, args.device)
    with tempfile.TemporaryDirectory() as tmp:
        data_root = write_fake_cifar(osp.join(tmp, 'data'), args.images,
                                     max(args.batch_size, 512))
        teacher_ckpt = osp.join(tmp, 'teacher.pth')
        torch.manual_seed(0)
        torch.save(CifarResNet18(num_classes=10).state_dict(), teacher_ckpt)
        run('nms_cuda', check_nms_cuda, needs_cuda=True)
        run('qat_amp_refused', check_qat_amp_refused)
        syncs = SyncCounter()
        for name in args.variants.split(','):
            if name == 'amp' and not cuda and not cpu_bf16_supported():
                checks['kd_amp'] = dict(ok=None, skipped='CPU without native bf16')
                continue
            hooks = (syncs,) if cuda and name == 'fp32' else ()
            run(f'kd_{name}', lambda n=name, h=hooks: dict(
                ok=True, **run_variant(n, args, data_root, teacher_ckpt, tmp, h)))
        if cuda and 'kd_fp32' in checks:
            checks['kd_sync_count'] = dict(ok=bool(syncs.per_iter), per_iteration=syncs.per_iter)
        run('kd_torchrun_nccl', lambda: check_torchrun(args, data_root, teacher_ckpt, tmp),
            needs_cuda=True)
        for method in ('deepinversion', 'cmi'):
            for amp in (False, True):
                if amp and not cuda and not cpu_bf16_supported():
                    continue
                run(f'dfkd_{method}_{"amp" if amp else "fp32"}',
                    lambda m=method, a=amp: check_synthesis(m, a, args.device))
        run('dfkd_checkpoint_resume', lambda: check_dfkd_resume(args.device, tmp))
        if cuda or cpu_bf16_supported():
            run('ssd_kd_amp_per_sample_tau', lambda: check_ssd_kd_amp(args.device, tmp, True))
        elif 'ssd_kd_amp_per_sample_tau' not in skip:
            checks['ssd_kd_amp_per_sample_tau'] = dict(ok=None, skipped='CPU without native bf16')
    result['wall_s'] = time.monotonic() - t0
    result['failed'] = sorted(k for k, v in checks.items() if v.get('ok') is False)
    from mmkd_green.energy.records import print_json
    print_json(result, args.out)   # (non-JSON values, e.g. dtypes, as their str())
    return 1 if result['failed'] else 0


if __name__ == '__main__':
    sys.exit(main())
