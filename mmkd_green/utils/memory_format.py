"""Where ``channels_last`` is safe: the oneDNN AVX2 1×1 stride-2 weight-gradient hazard.

torch 2.14.1 runs CPU convolutions in ``channels_last`` (NHWC) memory format through oneDNN. On an
x86 CPU where oneDNN's best instruction set is AVX2 (no AVX-512, or oneDNN capped below AVX-512
with ``ONEDNN_MAX_CPU_ISA`` / ``DNNL_MAX_CPU_ISA``), the weight gradient of a 1×1 stride-2
convolution with few input channels (``jit_avx2_1x1_convolution_bwd_weights_t``) spins forever with
2 OpenMP threads and crashes (SIGSEGV / SIGABRT) with 1. Forward passes, input gradients, NCHW,
3×3 kernels, stride 1 and bf16 are not affected. ``benchmarks/onednn_probe.py`` maps the exact
conditions case by case in subprocesses with a timeout; README ("CPUs with AVX2 only") has the
table.

The product therefore decides ``channels_last`` once, at model build time::

    channels_last = 'auto'  →  True   where the hazard cannot be reached (AVX-512 CPUs, CUDA, non-x86,
                                       torch without oneDNN)
                               False  on an AVX2-only oneDNN (the whole model runs NCHW), with one
                                       logged line saying why and what it costs
    channels_last = True / False  →  forced as given (True on a hazardous CPU logs a warning)

No torch release is known to fix the kernel, so every torch version counts as affected (the
version is named in the message); ``MKLDNN`` disabled (``torch.backends.mkldnn.enabled = False``)
takes oneDNN out of the path and counts as safe.
"""
import logging
import os
import platform
from typing import Mapping, Optional, Union

import torch

#: oneDNN ISA names (``ONEDNN_MAX_CPU_ISA``) at or above which the AVX2 kernels are not chosen
_AVX512_PREFIXES = ('AVX512', 'AVX10', 'AMX', 'ALL', 'DEFAULT')
#: throughput cost of running NCHW instead of channels_last, measured with
#: ``benchmarks/cls_throughput.py`` (README "CPUs with AVX2 only"); quoted in the logged line
NCHW_COST = ('cost: in bare loops NCHW trains the default CIFAR KD pair 0.80-0.97x as fast as '
             'channels_last would on such a CPU (benchmarks/cls_throughput.py under '
             'ONEDNN_MAX_CPU_ISA=AVX2, runs spread widely, README)')
_logged = set()


def cpu_flags(cpuinfo: Optional[str] = None) -> Optional[frozenset]:
    """The ``flags`` of the first CPU in ``/proc/cpuinfo`` (or of ``cpuinfo`` text); ``None``
    when there is no such line (not Linux, not x86, unreadable)."""
    if cpuinfo is None:
        try:
            with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as f:
                cpuinfo = f.read()
        except OSError:
            return None
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(':')
        if sep and key.strip() == 'flags':
            return frozenset(value.split())
    return None


def onednn_isa_cap(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The ISA oneDNN is capped at by ``ONEDNN_MAX_CPU_ISA`` (or the older ``DNNL_MAX_CPU_ISA``),
    upper-cased; ``None`` when neither is set."""
    env = os.environ if env is None else env
    for key in ('ONEDNN_MAX_CPU_ISA', 'DNNL_MAX_CPU_ISA'):
        value = env.get(key, '').strip()
        if value:
            return value.upper()
    return None


def channels_last_hazard(flags: Optional[frozenset] = None, env: Optional[Mapping[str, str]] = None,
                         machine: Optional[str] = None, torch_version: Optional[str] = None,
                         mkldnn: Optional[bool] = None) -> Optional[str]:
    """Why ``channels_last`` training can hang on this CPU, or ``None`` when it cannot.

    Every argument defaults to this machine (``/proc/cpuinfo`` flags, ``os.environ``,
    ``platform.machine()``, ``torch.__version__``, ``torch.backends.mkldnn``); tests pass others.
    """
    machine = (machine or platform.machine()).lower()
    if machine not in ('x86_64', 'amd64', 'i386', 'i686', 'x86'):
        return None
    if mkldnn is None:
        mkldnn = torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled
    if not mkldnn:
        return None
    flags = cpu_flags() if flags is None else flags
    torch_version = torch_version or torch.__version__.split('+')[0]
    cap = onednn_isa_cap(env)
    if cap is not None and not cap.startswith(_AVX512_PREFIXES):
        isa = f'oneDNN is capped at {cap} (ONEDNN_MAX_CPU_ISA)'
    elif flags is not None and 'avx512f' not in flags:
        isa = 'this CPU has AVX2 but no AVX-512' if 'avx2' in flags else \
            'this CPU has no AVX-512 (nor AVX2)'
    else:
        return None   # AVX-512 oneDNN (or flags unknown: not Linux, where it was never seen)
    return (f'{isa}, where torch {torch_version}\'s oneDNN channels_last 1x1 stride-2 convolution '
            f'weight gradient can hang or crash')


def resolve_channels_last(requested: Union[bool, str, None] = 'auto',
                          device: Union[str, torch.device, None] = None,
                          hazard: Optional[str] = '') -> bool:
    """Turn a config's ``channels_last`` (``'auto'``, ``True``, ``False``) into the layout to use.

    ``device``: where the networks will run (default: ``'cuda'`` when CUDA is available, as
    mmengine's Runner puts models there, else ``'cpu'``); CUDA never reaches oneDNN. ``hazard``:
    the reason from :func:`channels_last_hazard` (default: computed for this machine). One line
    is logged per distinct decision and process when the decision departs from the fast path or
    overrides the safety check.
    """
    if requested is None:
        requested = 'auto'
    if isinstance(requested, str) and requested.lower() == 'auto':
        requested = 'auto'
    elif not isinstance(requested, bool):
        raise ValueError(f"channels_last must be True, False or 'auto', got {requested!r}; "
                         f"'auto' (the default) uses channels_last where it is safe")
    if device is None:
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if torch.device(device).type != 'cpu':
        return requested is not False
    if hazard == '':
        hazard = channels_last_hazard()
    if requested == 'auto':
        if hazard is None:
            return True
        _log_once(f'channels_last off (model runs NCHW): {hazard}. {NCHW_COST}. Force it with '
                  f'channels_last=True in the config (data_preprocessor / synthesizer) at your '
                  f'own risk.')
        return False
    if requested and hazard is not None:
        _log_once(f'channels_last=True forced although {hazard}; a training run can freeze '
                  f"inside oneDNN. Use channels_last='auto' or False to avoid it.")
    return requested


def _log_once(msg: str) -> None:
    if msg in _logged:
        return
    _logged.add(msg)
    from mmengine.logging import print_log
    print_log(msg, logger='current', level=logging.WARNING)
