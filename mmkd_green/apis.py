"""One way to load, adjust and run a config: the API every tool, benchmark and test uses.

    from mmkd_green import apis
    cfg = apis.load_config('configs/cifar10/kd_hkd_stochastic_resnet18_mobilenetv2.py',
                           work_dir='work_dirs/run', cfg_options=['temperature.low=4'])
    apis.set_epochs(cfg, 3)
    apis.point_data_root(cfg, '../shared/data/cifar10')
    runner = apis.train(cfg)
    metrics = apis.test(cfg, 'work_dirs/run/epoch_3.pth')

For subprocess callers (a fresh interpreter per run)::

    python -m mmkd_green.apis train CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--auto-scale-lr] [--cfg-options key=value ...] [--launcher pytorch]
    python -m mmkd_green.apis test CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl] ...

``cfg_options`` always means mmengine's ``key=value`` syntax (``DictAction``): a list of
``'key=value'`` strings, or the dict ``DictAction`` makes of them. Config paths come from the
caller; nothing here knows where the repository is.
"""
import argparse
import copy
import os
import os.path as osp
from typing import Callable, Mapping, Optional, Sequence, Union

from mmengine.config import Config, DictAction

CfgOptions = Optional[Union[Mapping, Sequence[str]]]
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def parse_cfg_options(cfg_options: CfgOptions) -> dict:
    """``['a.b=1', 'c=[1,2]']`` → ``{'a.b': 1, 'c': [1, 2]}`` exactly as ``--cfg-options`` parses
    them (mmengine's ``DictAction``); a mapping is returned as a dict."""
    if not cfg_options:
        return {}
    if isinstance(cfg_options, Mapping):
        return dict(cfg_options)
    if isinstance(cfg_options, str):
        cfg_options = [cfg_options]
    bad = [o for o in cfg_options if '=' not in str(o)]
    if bad:
        raise ValueError(f'cfg_options must be key=value pairs (mmengine syntax, e.g. '
                         f'temperature.tau=8), got {bad}')
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('--o', nargs='+', action=DictAction)
    return dict(parser.parse_args(['--o', *map(str, cfg_options)]).o)


#: model types whose forward needs fp32 (torch.ao fake quantisation)
FP32_ONLY_MODELS = ('QATClassifier',)


def refuse_qat_amp(cfg: Config, amp: bool, path: str = 'config') -> None:
    """Refuse mixed precision (``--amp``, or an autocast ``optim_wrapper`` in the config) for
    quantization-aware training.

    A fake quantiser computes ``(clamp(round(x / s) + z, q_min, q_max) − z) · s`` with fp32
    scale ``s`` and observers that expect fp32 activations; under autocast the convolutions
    hand it fp16/bf16 tensors and the first iteration fails (reproduced on CPU under bf16
    autocast). QAT simulates int8 anyway, so it trains in fp32.
    """
    model_type = str((cfg.get('model') or {}).get('type', ''))
    wrapper = str((cfg.get('optim_wrapper') or {}).get('type', 'OptimWrapper'))
    if model_type in FP32_ONLY_MODELS and (
            amp or wrapper in ('AmpOptimWrapper', 'CPUAutocastOptimWrapper')):
        raise ValueError(f'{path}: --amp (amp=True) is not supported for {model_type}: fake '
                         'quantisation needs fp32 activations and crashes under autocast. Fix: '
                         'train QAT without --amp (fp32); the int8 model it converts to is '
                         'unaffected.')


def refuse_amp_without_device(cfg: Config, path: str = 'config') -> None:
    """Refuse ``optim_wrapper.type='AmpOptimWrapper'`` on a machine without the devices it
    needs (CUDA, NPU, MLU or MUSA), where mmengine would stop with a bare ``AssertionError``
    when the runner builds it."""
    wrapper = str((cfg.get('optim_wrapper') or {}).get('type', 'OptimWrapper'))
    if wrapper != 'AmpOptimWrapper':
        return
    from mmengine.device import (is_cuda_available, is_mlu_available, is_musa_available,
                                 is_npu_available)
    if not (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available()):
        raise ValueError(f'{path}: optim_wrapper.type=AmpOptimWrapper (fp16 with loss scaling) '
                         'needs a CUDA (or NPU/MLU/MUSA) device and this machine has none. Fix: '
                         '--cfg-options optim_wrapper.type=OptimWrapper, with --amp for bf16 '
                         'autocast on the CPU (CPUAutocastOptimWrapper) or without it for fp32.')


#: what ``--amp`` sets in ``optim_wrapper`` per :func:`amp_capability`:
#: * ``'cuda-bf16'`` (a GPU with native bf16): bf16 autocast. bf16 has fp32's exponent range, so
#:   gradients do not underflow and no loss scale is needed; the scaler is disabled, which also
#:   drops its per-step inf check (a host sync: ``GradScaler.step`` reads ``found_inf``);
#: * ``'cuda-fp16'`` (an older GPU): fp16 autocast with a dynamic loss scale;
#: * ``'cpu'``: bf16 autocast on the CPU (refused when the runner builds it on a CPU without
#:   native bf16).
AMP_WRAPPERS = {
    'cuda-bf16': dict(type='AmpOptimWrapper', dtype='bfloat16', loss_scale=dict(enabled=False)),
    'cuda-fp16': dict(type='AmpOptimWrapper', loss_scale='dynamic'),
    'cpu': dict(type='CPUAutocastOptimWrapper'),
}


def amp_capability(cuda_available: Optional[Callable[[], bool]] = None,
                   bf16_native: Optional[Callable[[], bool]] = None) -> str:
    """``'cuda-bf16'``, ``'cuda-fp16'`` or ``'cpu'``: which :data:`AMP_WRAPPERS` entry ``--amp``
    uses here. The checks default to ``torch.cuda.is_available`` and
    :func:`mmkd_green.utils.cpu_autocast.cuda_bf16_native` (compute capability >= 8.0; a GPU
    that would only emulate bf16 gets fp16); tests pass others."""
    if cuda_available is None:
        import torch
        cuda_available = torch.cuda.is_available
    if bf16_native is None:
        from mmkd_green.utils.cpu_autocast import cuda_bf16_native as bf16_native
    if not cuda_available():
        return 'cpu'
    return 'cuda-bf16' if bf16_native() else 'cuda-fp16'


def apply_amp(cfg: Config, path: str = 'config',
              capability: Callable[[], str] = amp_capability) -> Config:
    """``--amp``: set ``optim_wrapper`` to the :data:`AMP_WRAPPERS` entry of ``capability()``.

    A config that already names ``AmpOptimWrapper`` / ``CPUAutocastOptimWrapper`` keeps it (an
    ``AmpOptimWrapper`` is refused on a machine without a GPU, :func:`refuse_amp_without_device`);
    any other wrapper type than ``OptimWrapper`` is refused."""
    refuse_amp_without_device(cfg, path)
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper in ('AmpOptimWrapper', 'CPUAutocastOptimWrapper'):
        return cfg
    if wrapper != 'OptimWrapper':
        raise ValueError(f'amp needs `optim_wrapper.type` OptimWrapper, got {wrapper}')
    kind = capability()
    if kind not in AMP_WRAPPERS:
        raise ValueError(f'unknown amp capability {kind!r}; expected one of {sorted(AMP_WRAPPERS)}')
    cfg.optim_wrapper.update(copy.deepcopy(AMP_WRAPPERS[kind]))
    return cfg


def load_config(path: str, *, work_dir: Optional[str] = None, cfg_options: CfgOptions = None,
                launcher: str = 'none', resume: Optional[Union[bool, str]] = None,
                amp: bool = False, auto_scale_lr: bool = False) -> Config:
    """Config file + overrides, with ``tools/train.py``'s semantics.

    Args:
        path: the config file (relative to the current directory or absolute).
        work_dir: where logs, checkpoints and carbon records go; default: the config's
            ``work_dir``, else ``work_dirs/<config name>``.
        cfg_options: ``key=value`` overrides (list of strings or ``DictAction`` dict).
        launcher: ``'none'`` | ``'pytorch'`` | ``'slurm'`` | ``'mpi'``.
        resume: ``True``/``'auto'`` resumes from the work dir's latest checkpoint, a path from
            that checkpoint; ``None``/``False`` starts fresh.
        amp: mixed precision (:func:`apply_amp`): ``optim_wrapper`` becomes ``AmpOptimWrapper``
            with bf16 (no loss scale) on a GPU with native bf16, with fp16 and a dynamic loss
            scale on an older GPU, else ``CPUAutocastOptimWrapper`` (bf16 autocast on a CPU with
            native bf16).
        auto_scale_lr: scale the lr by total batch / ``auto_scale_lr.base_batch_size``.
    """
    if launcher not in LAUNCHERS:
        raise ValueError(f'launcher must be one of {LAUNCHERS}, got {launcher!r}')
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    os.environ.setdefault('LOCAL_RANK', '0')
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    options = parse_cfg_options(cfg_options)
    if options:
        cfg.merge_from_dict(options)
    if work_dir is not None:
        cfg.work_dir = str(work_dir)
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(path))[0])
    refuse_qat_amp(cfg, amp, path)
    if amp:
        apply_amp(cfg, path)
    if auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise KeyError('auto_scale_lr needs `auto_scale_lr = dict(enable=False, '
                           'base_batch_size=N)` in the config')
        cfg.auto_scale_lr.enable = True
    if resume is True or resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif resume:
        cfg.resume, cfg.load_from = True, str(resume)
    return cfg


def set_epochs(cfg: Config, epochs: int) -> Config:
    """Train for ``epochs`` epochs; epoch-based schedulers follow, found by type, not position.

    With ``E`` the config's ``train_cfg.max_epochs`` and ``E'`` = ``epochs``:
    ``CosineAnnealing*``: ``T_max = E' − begin``, ``end = E'``; ``MultiStep*``: each milestone
    ``m`` becomes ``round(m · E' / E)`` (kept inside the run); other epoch-based schedulers with
    an ``end`` past the run are clipped to ``E'``. Iteration-based schedulers (warm-ups) are left
    alone. Validation and checkpoint intervals equal to ``E > 1`` ("once, at the end") become
    ``E'``; longer ones are shortened to ``E'``.
    """
    epochs = int(epochs)
    if epochs < 1:
        raise ValueError(f'epochs must be >= 1, got {epochs}')
    if 'max_iters' in cfg.train_cfg or 'IterBased' in str(cfg.train_cfg.get('type', '')):
        raise ValueError('set_epochs needs an epoch-based train_cfg (max_epochs); this config '
                         'trains by iterations: override train_cfg.max_iters instead')
    old = int(cfg.train_cfg.get('max_epochs') or epochs)
    cfg.train_cfg.max_epochs = epochs
    scheds = cfg.get('param_scheduler', None) or []
    if isinstance(scheds, Mapping):
        scheds = [scheds]
    for sched in scheds:
        kind = str(sched.get('type', ''))
        if not sched.get('by_epoch', True):
            continue
        if kind.startswith('CosineAnnealing'):
            sched.T_max = epochs - int(sched.get('begin', 0))
            sched.end = epochs
        elif kind.startswith('MultiStep'):
            scaled = sorted({min(epochs, max(1, round(m * epochs / old)))
                             for m in sched.get('milestones', [])})
            sched.milestones = [m for m in scaled if m < epochs] or scaled[:1]
        if sched.get('end') is not None and sched.end > epochs:
            sched.end = epochs

    def follow(interval):
        return epochs if (interval == old > 1) or interval > epochs else interval
    if 'val_interval' in cfg.train_cfg:
        cfg.train_cfg.val_interval = follow(cfg.train_cfg.val_interval)
    ckpt = (cfg.get('default_hooks') or {}).get('checkpoint')
    if ckpt is not None and ckpt.get('by_epoch', True) and 'interval' in ckpt:
        ckpt.interval = follow(ckpt.interval)
    return cfg


def point_data_root(cfg: Config, root: str) -> Config:
    """Point every train/val/test dataset (also wrapped ones: ``dataset.dataset``) at ``root``,
    and the config's top-level ``data_root`` variable (mmdet/mmpretrain base configs keep one)
    too, so the resolved config names one data folder: a stale relative ``data_root`` would
    otherwise make the study's cache key depend on the working directory."""
    def visit(ds):
        if ds is None:
            return
        if 'dataset' in ds:
            visit(ds.dataset)
        elif 'datasets' in ds:
            for d in ds.datasets:
                visit(d)
        else:
            ds.data_root = root
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key) is not None:
            visit(cfg[key].get('dataset'))
    if 'data_root' in cfg:
        cfg.data_root = root
    return cfg


def init_cpu_distributed(cfg: Config) -> None:
    """Start a gloo process group for ``launcher='pytorch'`` on machines without CUDA.

    mmengine 0.10.7's pytorch launcher always calls ``torch.cuda.set_device`` and wraps the model
    in DDP with ``device_ids=[LOCAL_RANK]``; both fail on a CPU-only host. mmengine skips its own
    initialisation when a group exists, and CPU DDP needs ``device_ids=None``.
    """
    import torch
    import torch.distributed as dist
    if cfg.get('launcher', 'none') != 'pytorch' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel', device_ids=None,
                                     broadcast_buffers=False,
                                     find_unused_parameters=cfg.get('find_unused_parameters', False))


def build_runner(cfg: Config):
    """The config's runner (``runner_type`` if set, else mmengine's ``Runner``)."""
    import mmkd_green  # noqa: F401  (registers our modules, safe checkpoint loading)
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    init_cpu_distributed(cfg)
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def train(cfg: Config):
    """Build the runner and train; returns the runner (``runner.train()``'s model is on it).

    Checkpoints given by URL (``init_cfg``, ``teacher_ckpt``, ``load_from``) are checked first:
    one that is neither cached nor fetchable stops the run before anything is built
    (:mod:`mmkd_green.utils.remote_checkpoints`)."""
    from .utils.remote_checkpoints import check_remote_checkpoints
    refuse_amp_without_device(cfg)
    check_remote_checkpoints(cfg, training=True)
    runner = build_runner(cfg)
    runner.train()
    return runner


def test(cfg: Config, checkpoint: str, out: Optional[str] = None) -> dict:
    """Evaluate ``checkpoint`` on the config's test split; ``out`` also dumps the predictions."""
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    cfg.load_from = checkpoint
    if out is not None:
        if not out.endswith(('.pkl', '.pickle')):
            raise ValueError('out must end with .pkl or .pickle')
        evaluators = cfg.test_evaluator
        cfg.test_evaluator = list(evaluators) if isinstance(evaluators, (list, tuple)) \
            else [evaluators]
        cfg.test_evaluator.append(dict(type='DumpResults', out_file_path=out))
    from .utils.remote_checkpoints import check_remote_checkpoints
    check_remote_checkpoints(cfg, training=False)
    return build_runner(cfg).test()


def shutdown_distributed() -> None:
    """Free the runner (and its DDP wrapper), then end the process group, before Python exits:
    otherwise gloo's background thread may still be cleaning up the last collective during
    interpreter shutdown and abort the process ("terminate called without an active
    exception") after a complete run."""
    import gc

    import torch.distributed as dist
    gc.collect()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# ----------------------------------------------------------------------------- command line
def add_common_args(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs, checkpoints and carbon records are saved')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value pairs in mmengine syntax, e.g. '
                             'temperature.low=4 or temperature=dict(type=ConstantTemperature,'
                             'tau=8)')
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none',
                        help='job launcher (torchrun sets pytorch)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    return parser


def train_parser() -> argparse.ArgumentParser:
    parser = add_common_args(argparse.ArgumentParser(description='Train a (KD) model'))
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by total batch size / auto_scale_lr.base_batch_size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint in the work dir')
    return parser


def test_parser() -> argparse.ArgumentParser:
    parser = add_common_args(argparse.ArgumentParser(description='Test a (KD) model'))
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump raw predictions to this pickle file')
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    """``load_config`` with a parsed ``train_parser()``/``test_parser()`` namespace."""
    os.environ.setdefault('LOCAL_RANK', str(getattr(args, 'local_rank', 0)))
    return load_config(args.config, work_dir=args.work_dir, cfg_options=args.cfg_options,
                       launcher=args.launcher, resume=getattr(args, 'resume', None),
                       amp=getattr(args, 'amp', False),
                       auto_scale_lr=getattr(args, 'auto_scale_lr', False))


def train_main(argv=None):
    args = train_parser().parse_args(argv)
    return train(config_from_args(args))


def test_main(argv=None):
    args = test_parser().parse_args(argv)
    return test(config_from_args(args), args.checkpoint, out=args.out)


def main(argv=None):
    import sys
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ('train', 'test'):
        raise SystemExit('usage: python -m mmkd_green.apis train|test CONFIG [options] '
                         '(`train --help`, `test --help` list the options)')
    command, rest = argv[0], argv[1:]
    try:   # the runner is dropped before the process group ends (see shutdown_distributed)
        (train_main if command == 'train' else test_main)(rest)
    finally:
        shutdown_distributed()


if __name__ == '__main__':
    from mmkd_green.utils.cli import run_cli
    run_cli(main)
