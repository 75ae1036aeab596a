"""``CPUAutocastOptimWrapper``: mixed precision on CPU (bf16 autocast), what ``--amp`` selects on a
machine without CUDA.

mmengine's ``AmpOptimWrapper`` needs a GPU (it asserts CUDA/NPU/MLU/MUSA). On a CPU with native
bf16 (``avx512_bf16`` or AMX; ``torch.ops.mkldnn._is_mkldnn_bf16_supported()``) the forward pass
can run under ``torch.autocast('cpu', dtype=torch.bfloat16)``: convolutions and matrix products in
bf16, the ops autocast keeps in fp32 (e.g. ``grid_sampler``) in fp32, parameters, gradients and
optimizer state in fp32. bf16 has fp32's exponent range, so no loss scaling is needed; our KD
losses compute their terms in fp32 from the bf16 logits (``BaseKDLoss.forward``).

``optim_context(model)`` = mmengine's (gradient accumulation) + the autocast region, which
``BaseModel.train_step`` wraps around the data preprocessor and the forward pass; backward and the
optimizer step run outside it, as with ``AmpOptimWrapper``.
"""
import contextlib

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS


def cpu_bf16_supported() -> bool:
    """Whether this CPU runs bf16 natively (oneDNN's check: avx512_bf16 / AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cuda_bf16_native() -> bool:
    """Whether the current CUDA GPU runs bf16 natively (compute capability >= 8.0, Ampere and
    newer; ROCm). ``torch.cuda.is_bf16_supported()`` alone also says True on older GPUs, where
    bf16 is only emulated (slower than fp16); this asks without emulation (False without CUDA)."""
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:             # a torch without the argument: it had no emulation path
        return bool(torch.cuda.is_bf16_supported())


def autocast_dtype(device_type: str, what: str, fix: str) -> torch.dtype:
    """The autocast dtype for training on ``device_type``: bf16 on a CPU (refused, naming
    ``what`` and ``fix``, on one without native bf16, where it runs slower than fp32); on CUDA
    bf16 where the GPU runs it natively (:func:`cuda_bf16_native`; fp32's exponent range: small
    gradients do not underflow), else fp16 (the caller then needs a loss scale); fp16 on other
    devices."""
    if device_type == 'cuda':
        return torch.bfloat16 if cuda_bf16_native() else torch.float16
    if device_type != 'cpu':
        return torch.float16
    if not cpu_bf16_supported():
        raise RuntimeError(f'{what}: this CPU has no native bf16 (avx512_bf16 or AMX), so bf16 '
                           f'autocast would run slower than fp32. {fix}')
    return torch.bfloat16


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward context is bf16 autocast on CPU.

    Args:
        dtype: ``'bfloat16'`` (the only CPU autocast type worth using for training).
        **kwargs: ``OptimWrapper``'s (``optimizer``, ``accumulative_counts``, ``clip_grad``).
    """

    def __init__(self, dtype: str = 'bfloat16', **kwargs):
        if dtype not in ('bfloat16', torch.bfloat16):
            raise ValueError(f'CPUAutocastOptimWrapper: dtype must be "bfloat16", got {dtype!r} '
                             '(fp16 autocast on CPU is slower than fp32)')
        self.dtype = autocast_dtype(
            'cpu', 'CPUAutocastOptimWrapper (--amp on a machine without CUDA)',
            'Train without --amp (fp32), or set optim_wrapper.type=OptimWrapper.')
        super().__init__(**kwargs)

    @contextlib.contextmanager
    def optim_context(self, model):
        device = next((p.device for p in model.parameters() if p.device.type != 'cpu'), None)
        if device is not None:   # CPU autocast leaves a GPU model in fp32, silently
            raise RuntimeError(f'CPUAutocastOptimWrapper autocasts CPU ops only, but the model is '
                               f'on {device}: it would train in fp32. Fix: use '
                               'optim_wrapper.type=AmpOptimWrapper (what --amp selects with '
                               'CUDA), or train on the CPU.')
        with super().optim_context(model), torch.autocast('cpu', dtype=self.dtype):
            yield
