"""FLOPs counted on real steps with torch's own per-op formulas (``torch.utils.flop_counter``).

Convention: FLOPs = 2 x multiply-accumulates (torch's counter counts a matmul of (m, k) x (k, n)
as 2·m·k·n, convolutions alike); element-wise ops, normalisation and optimizer updates count 0.

* Training: the counter is entered just before a real train iteration and left after it, so it
  sees the teacher forward, the student forward and the backward of that step (the optimizer
  step adds nothing). Per segment::

      train_flops = F_counted / B_counted * Σ_i B_i     (Σ over the segment's iterations)

  i.e. ``F_counted x iterations`` when all batches have the counted batch size ``B_counted``;
  ``F_counted x iterations`` when batch sizes are unknown.
* Inference: the FLOPs of one real val/test iteration divided by its batch size (the model's
  predict path: the student of a distiller).

Counting once: a step's FLOPs depend only on the model and the shapes of its inputs, so the
hook counts the first iteration of the first segment and re-uses that count in later segments
whose first batch has the same :func:`flop_cache_key` (same model object, parameter shapes and
batch tensor shapes/dtypes); any change (other image sizes, a different model) counts again.

The counter is a dispatch mode: every op runs unchanged (same kernels, same results), so counting
does not change numerics or RNG state.

Grouped convolutions: torch 2.14's stock formula for ``aten.convolution_backward`` ignores
``groups`` and counts a depthwise conv's backward ``groups`` times too high (64 channels: 4.79 M
instead of 2 x 74 K). We count it from the forward cost ``F`` of the same convolution, which is
exact for any ``groups``: each multiply-add of the forward appears once in the input gradient and
once in the weight gradient, so backward = F x (number of requested gradients among input and
weight). :func:`flop_counter` builds a counter with that formula; use it instead of
``FlopCounterMode`` directly.

The counter (:class:`FlopCounter`) is a lean dispatch mode over ``FlopCounterMode``'s formula
table: it runs and decomposes ops exactly as ``FlopCounterMode`` does and sums the same formulas,
so its total equals ``FlopCounterMode(...).get_total_flops()`` (tested), but it keeps no
per-module breakdown. ``FlopCounterMode`` tracks module nesting with hooks on every module call
and autograd node, which made a counted train step of a small CNN cost ~5 ms more than a plain
one instead of ~1 ms (``benchmarks/meter_overhead.py``). Higher-order operators (``cond``,
Triton kernels of ``torch.compile``) are not supported: count eager steps.
"""
import functools
from typing import Optional

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count


def conv_backward_flop(grad_out_shape, x_shape, w_shape, _bias, _stride, _padding, _dilation,
                       transposed, _output_padding, _groups, output_mask, out_shape=None,
                       **kwargs) -> int:
    """Backward FLOPs of a (grouped) convolution = forward FLOPs x requested input/weight grads."""
    forward = conv_flop_count(list(x_shape), list(w_shape), list(grad_out_shape),
                              transposed=transposed)
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))


@functools.lru_cache(maxsize=None)
def _formulas() -> dict:
    """``{op overload packet: FLOP formula}``: torch's table with our convolution backward, as
    ``FlopCounterMode`` builds it (formulas take shapes; ``out_val`` is the op's output)."""
    return FlopCounterMode(display=False, custom_mapping={
        torch.ops.aten.convolution_backward: conv_backward_flop}).flop_registry


# size/stride queries that torch's counter leaves to the default handling (never counted)
_METADATA_OPS = frozenset(
    getattr(torch.ops.aten, name).default if '.' not in name else
    getattr(getattr(torch.ops.aten, name.split('.')[0]), name.split('.')[1])
    for name in ('sym_is_contiguous', 'is_contiguous', 'is_contiguous.memory_format',
                 'is_strides_like_format', 'is_non_overlapping_and_dense', 'size', 'sym_size',
                 'stride', 'sym_stride', 'storage_offset', 'sym_storage_offset', 'numel',
                 'sym_numel', 'dim')) | {torch.ops.prim.layout.default}


_DECOMPOSABLE = {}


def _decomposable(func) -> bool:
    """Whether ``func.decompose`` would run a CompositeImplicitAutograd kernel (cached per op;
    asking costs as much as a small op, and almost no op reaching the mode has one)."""
    known = _DECOMPOSABLE.get(func)
    if known is None:
        key = torch._C.DispatchKey.CompositeImplicitAutograd
        try:
            known = key in func.py_kernels or bool(
                torch._C._dispatch_has_kernel_for_dispatch_key(func.name(), key))
        except (AttributeError, RuntimeError, TypeError):   # another torch: just try it
            known = True
        _DECOMPOSABLE[func] = known
    return known


class FlopCounter(TorchDispatchMode):
    """Total FLOPs of the ops run inside ``with FlopCounter() as c:`` (``c.get_total_flops()``).

    Per op: an op with a decomposition runs decomposed (its parts are counted); otherwise it
    runs unchanged and adds ``formula(*args, **kwargs, out_val=out)`` when the table has one.
    """

    def __init__(self):
        super().__init__()
        self.total = 0
        self._formulas = _formulas()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _METADATA_OPS:
            return NotImplemented
        if func is not torch.ops.prim.device.default and _decomposable(func):
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
        out = func(*args, **kwargs)
        formula = self._formulas.get(func._overloadpacket)
        if formula is not None:
            self.total += formula(*args, **kwargs, out_val=out)
        return out

    def get_total_flops(self) -> int:
        return int(self.total)


def flop_counter() -> FlopCounter:
    """A counter with the groups-aware convolution backward formula."""
    return FlopCounter()


class StepFlopCounter:
    """Enter/exit a :class:`FlopCounter` around one step (hook-friendly, re-usable)."""

    def __init__(self):
        self._mode: Optional[FlopCounter] = None

    @property
    def active(self) -> bool:
        return self._mode is not None

    def enter(self) -> None:
        if self._mode is None:
            mode = flop_counter()
            mode.__enter__()
            self._mode = mode

    def exit(self) -> Optional[int]:
        """Leave the counter; the FLOPs counted since :meth:`enter` (``None`` if not active)."""
        if self._mode is None:
            return None
        mode, self._mode = self._mode, None
        mode.__exit__(None, None, None)
        return int(mode.get_total_flops())


def _shapes(obj, depth=0):
    if torch.is_tensor(obj):
        return (tuple(obj.shape), obj.dtype, obj.device.type)
    if depth > 4:
        return type(obj).__name__
    if isinstance(obj, dict):
        return tuple((k, _shapes(v, depth + 1)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__,) + tuple(_shapes(v, depth + 1) for v in obj)
    return type(obj).__name__


def flop_cache_key(model, batch) -> tuple:
    """What a train step's FLOP count depends on: the model (object and parameter shapes) and
    the shapes, dtypes and devices of the batch's tensors (nested dicts/lists)."""
    return (id(model), tuple(tuple(p.shape) for p in model.parameters()), _shapes(batch))


def count_flops(fn, *args, **kwargs):
    """``(result, FLOPs)`` of one call."""
    with flop_counter() as mode:
        out = fn(*args, **kwargs)
    return out, int(mode.get_total_flops())


def scale_train_flops(counted: Optional[int], counted_batch: Optional[int], samples: int,
                      iters: int) -> Optional[int]:
    """Segment FLOPs from one counted step (see the module docstring)."""
    if counted is None:
        return None
    if counted_batch and samples:
        return int(round(counted / counted_batch * samples))
    return int(counted) * int(iters)
