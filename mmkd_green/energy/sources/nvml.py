"""Energy of the NVIDIA GPUs this process uses, through NVML (``nvidia-ml-py``, ``import pynvml``).

Per device, one of:

* ``counter`` (Volta and newer): ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since driver load);
  ``E = (c1 - c0) / 1000`` J; method ``measured``;
* ``sampling`` (older GPUs, or ``mode='sampling'``): ``nvmlDeviceGetPowerUsage`` (mW) read every
  poll, integrated with the trapezoid rule ``E += (P_prev + P_now) / 2 * Δt`` (monotonic clock);
  method ``measured``. A poll that fails leaves a gap: the next :meth:`read` raises
  :class:`SourceGap` (that segment is unmeasured) and the integration restarts;
* ``mig-share``: a MIG instance. NVML has no energy or power reading per instance, only for the
  physical GPU, so the instance is charged ``E_gpu x s_instance / s_gpu`` with ``s`` the GPU
  instance's compute slices (``nvmlDeviceGetAttributes(mig).gpuInstanceSliceCount``) and the
  GPU's slices (the largest ``sliceCount`` of its GPU-instance profiles). Method ``estimated``:
  it assumes the other instances draw the same per slice. When the slices cannot be read the
  device is :class:`SourceUnavailable`.

Device mapping: only the devices given (torch CUDA indices, default: the current device) are
read, never every GPU of the machine. A torch index is mapped to NVML through

1. the device UUID torch reports (``torch.cuda.get_device_properties(i).uuid``), matched against
   NVML's GPU and MIG UUIDs; else
2. ``CUDA_VISIBLE_DEVICES``: entry ``i`` of the list is an NVML index (CUDA numbers devices in
   PCI bus order only with ``CUDA_DEVICE_ORDER=PCI_BUS_ID``; the UUID path above does not depend
   on it) or a UUID or UUID prefix (``GPU-...``, ``MIG-...``); unset: NVML index ``i``.

Every NVML and CUDA query is guarded: a failure at :meth:`open` raises
:class:`SourceUnavailable` naming the call and the error; a failure in :meth:`read` raises (the
meter marks that segment's GPU energy unmeasured and retries at the next epoch). Scope
``device``: every DDP rank reads its own GPU.
"""
import os
import threading
import time
from typing import Dict, List, Optional, Sequence, Tuple

from .base import EnergySource, SourceUnavailable

MODES = ('auto', 'counter', 'sampling')


class SourceGap(RuntimeError):
    """Power sampling missed readings since the last read: this segment's energy is unknown."""


def _nvml_call(pynvml, name: str, *args):
    """``pynvml.<name>(*args)``; any error (NVMLError, a missing function) -> SourceUnavailable."""
    try:
        return getattr(pynvml, name)(*args)
    except Exception as err:   # noqa: BLE001  (NVMLError, AttributeError on old bindings, ...)
        raise SourceUnavailable(f'{name} failed ({_describe(err)})') from err


def _describe(err: BaseException) -> str:
    try:
        text = str(err)
    except Exception:   # noqa: BLE001  (NVMLError.__str__ itself calls into the library)
        text = ''
    return f'{type(err).__name__}: {text}' if text else type(err).__name__


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _value(obj):
    return getattr(obj, 'value', obj)   # pynvml returns some results as ctypes ints


def _bare(uuid: str) -> str:
    uuid = uuid.strip()
    for prefix in ('GPU-', 'MIG-'):
        if uuid.startswith(prefix):
            return uuid[len(prefix):]
    return uuid


def visible_devices() -> Optional[List[str]]:
    """``CUDA_VISIBLE_DEVICES`` as a list of entries (``None`` when unset)."""
    value = os.environ.get('CUDA_VISIBLE_DEVICES')
    if value is None:
        return None
    return [e.strip() for e in value.split(',') if e.strip()]


def torch_device_uuid(index: int) -> Optional[str]:
    """The UUID torch reports for CUDA device ``index`` (``None`` when torch cannot say)."""
    try:
        import torch
        if not torch.cuda.is_available():
            return None
        uuid = getattr(torch.cuda.get_device_properties(index), 'uuid', None)
        return None if uuid is None else str(uuid)
    except Exception:   # noqa: BLE001  (no driver, a lost device: fall back to the env var)
        return None


def nvml_devices(pynvml) -> List[Tuple[str, object, bool]]:
    """``(uuid, handle, is_mig)`` of every NVML GPU and every MIG instance on them."""
    out = []
    for i in range(_value(_nvml_call(pynvml, 'nvmlDeviceGetCount'))):
        handle = _nvml_call(pynvml, 'nvmlDeviceGetHandleByIndex', i)
        out.append((_text(_nvml_call(pynvml, 'nvmlDeviceGetUUID', handle)), handle, False))
        try:
            mig_on = _value(pynvml.nvmlDeviceGetMigMode(handle)[0])
            count = _value(pynvml.nvmlDeviceGetMaxMigDeviceCount(handle)) if mig_on else 0
        except Exception:   # noqa: BLE001  (no MIG support)
            count = 0
        for j in range(count):
            try:
                mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, j)
                out.append((_text(pynvml.nvmlDeviceGetUUID(mig)), mig, True))
            except Exception:   # noqa: BLE001  (an empty MIG slot)
                continue
    return out


def resolve_handle(pynvml, torch_index: int, uuid: Optional[str] = None):
    """``(NVML handle, how it was found)`` of torch CUDA device ``torch_index``.

    ``uuid``: the UUID torch reports for it, if any (see the module docstring for the order).
    """
    if uuid:
        for cand in (uuid,) if uuid.startswith(('GPU-', 'MIG-')) else (f'GPU-{uuid}',
                                                                         f'MIG-{uuid}'):
            try:
                return pynvml.nvmlDeviceGetHandleByUUID(cand), f'UUID {cand}'
            except Exception:   # noqa: BLE001
                pass
        for nv_uuid, handle, _ in nvml_devices(pynvml):
            if _bare(nv_uuid) == _bare(uuid):
                return handle, f'UUID {nv_uuid}'
        raise SourceUnavailable(f'CUDA device {torch_index} (UUID {uuid}) is not among the '
                                'devices NVML lists')
    visible = visible_devices()
    entry = str(torch_index) if visible is None else (
        visible[torch_index] if 0 <= torch_index < len(visible) else None)
    if entry is None:
        raise SourceUnavailable(f'CUDA device {torch_index} is not in CUDA_VISIBLE_DEVICES='
                                f'{os.environ.get("CUDA_VISIBLE_DEVICES")!r}')
    if entry.lstrip('-').isdigit():
        handle = _nvml_call(pynvml, 'nvmlDeviceGetHandleByIndex', int(entry))
        return handle, (f'NVML index {entry}' + ('' if visible is None else
                                                  ' (CUDA_VISIBLE_DEVICES)'))
    matches = [(u, h) for u, h, _ in nvml_devices(pynvml)
               if u.startswith(entry) or _bare(u).startswith(_bare(entry))]
    if len(matches) != 1:
        raise SourceUnavailable(
            f'CUDA_VISIBLE_DEVICES entry {entry!r} (CUDA device {torch_index}) matches '
            f'{len(matches)} NVML devices ({", ".join(u for u, _ in matches) or "none"})')
    return matches[0][1], f'UUID {matches[0][0]} (CUDA_VISIBLE_DEVICES)'


def _is_mig(pynvml, handle) -> bool:
    try:
        return bool(_value(pynvml.nvmlDeviceIsMigDeviceHandle(handle)))
    except Exception:   # noqa: BLE001  (old driver/bindings: no MIG)
        return False


def mig_share(pynvml, mig) -> Tuple[object, int, int]:
    """``(parent handle, instance slices, GPU slices)`` of a MIG device handle."""
    parent = _nvml_call(pynvml, 'nvmlDeviceGetDeviceHandleFromMigDeviceHandle', mig)
    slices = _value(_nvml_call(pynvml, 'nvmlDeviceGetAttributes', mig).gpuInstanceSliceCount)
    total = 0
    for profile in range(int(getattr(pynvml, 'NVML_GPU_INSTANCE_PROFILE_COUNT', 8))):
        try:
            total = max(total, _value(
                pynvml.nvmlDeviceGetGpuInstanceProfileInfo(parent, profile).sliceCount))
        except Exception:   # noqa: BLE001  (a profile this GPU does not offer)
            continue
    if not (slices and total and 0 < slices <= total):
        raise SourceUnavailable(f'MIG slice share unknown (instance {slices}, GPU {total})')
    return parent, int(slices), int(total)


class _Device:
    def __init__(self, index, handle, name, how):
        self.index, self.handle, self.name, self.how = index, handle, name, how
        self.mode = None          # 'counter' | 'sampling'
        self.share = 1.0          # MIG: instance slices / GPU slices
        self.mig = None           # MIG: (slices, total)
        self.c0 = None            # counter: first reading (mJ)
        self.joules = 0.0         # sampling: integrated energy (J)
        self.p_prev = None
        self.t_prev = None

    def label(self) -> str:
        text = f'cuda:{self.index} {self.name} [{self.how}] '
        if self.mig:
            text += (f'MIG instance: {self.mig[0]}/{self.mig[1]} of the GPU\'s '
                     f'{"energy counter" if self.mode == "counter" else "sampled power"}')
        else:
            text += '(energy counter)' if self.mode == 'counter' else '(power sampling)'
        return text


class NvmlGpuSource(EnergySource):
    """GPU energy of the given CUDA devices (``measured``; ``estimated`` for MIG instances).

    Args:
        devices: torch CUDA indices (default: the current device).
        mode: ``'auto'`` (energy counter when the GPU has one, else power sampling),
            ``'counter'`` or ``'sampling'`` (force one; the GPU check compares both).
    """

    components = ('gpu',)
    method = 'measured'
    scope = 'device'
    source = 'nvml'

    def __init__(self, devices: Optional[Sequence[int]] = None, mode: str = 'auto'):
        if mode not in MODES:
            raise ValueError(f'NvmlGpuSource mode must be one of {MODES}, got {mode!r}')
        self.device_indices = None if devices is None else [int(d) for d in devices]
        self.mode = mode
        self.devices: List[_Device] = []
        self.detail = 'NVML'
        self._lock = threading.Lock()
        self._pynvml = None
        self._gap = None

    def open(self) -> None:
        try:
            import pynvml
        except ImportError as err:
            raise SourceUnavailable(f'nvidia-ml-py is not installed ({err}); `pip install '
                                    'nvidia-ml-py` (requirements/runtime.txt)')
        indices = self.device_indices
        if indices is None:
            try:
                import torch
                indices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
            except Exception as err:   # noqa: BLE001
                raise SourceUnavailable(f'torch.cuda.current_device() failed ({_describe(err)})')
        if not indices:
            raise SourceUnavailable('no CUDA device in use by this process')
        try:
            pynvml.nvmlInit()
        except Exception as err:   # noqa: BLE001
            raise SourceUnavailable(f'NVML cannot be initialised ({_describe(err)}): no NVIDIA '
                                    'driver, or a driver/library version mismatch?')
        self._pynvml = pynvml
        try:
            self.devices = [self._open_device(pynvml, index) for index in indices]
        except BaseException:
            self.close()
            raise
        self.method = 'estimated' if any(d.mig for d in self.devices) else 'measured'
        self.source = 'nvml-mig-share' if self.method == 'estimated' else 'nvml'
        self.detail = 'NVML ' + ', '.join(d.label() for d in self.devices)

    def _open_device(self, pynvml, index: int) -> _Device:
        handle, how = resolve_handle(pynvml, index, torch_device_uuid(index))
        name = _text(_nvml_call(pynvml, 'nvmlDeviceGetName', handle))
        dev = _Device(index, handle, name, how)
        reader = handle
        if _is_mig(pynvml, handle):
            try:
                reader, slices, total = mig_share(pynvml, handle)
            except SourceUnavailable as err:
                raise SourceUnavailable(
                    f'cuda:{index} is a MIG instance ({name}): NVML reads energy and power only '
                    f'for the whole GPU, and the instance\'s share could not be read ({err})')
            dev.mig, dev.share = (slices, total), slices / total
        dev.reader = reader
        if self.mode in ('auto', 'counter'):
            try:
                dev.c0 = _value(pynvml.nvmlDeviceGetTotalEnergyConsumption(reader))
                dev.mode = 'counter'
            except Exception as err:   # noqa: BLE001
                if self.mode == 'counter':
                    raise SourceUnavailable(f'cuda:{index} {name}: no energy counter '
                                            f'({_describe(err)})')
        if dev.mode is None:
            p = _value(_nvml_call(pynvml, 'nvmlDeviceGetPowerUsage', reader))
            dev.mode, dev.p_prev, dev.t_prev = 'sampling', p / 1000.0, time.monotonic()
        return dev

    def poll(self) -> None:
        with self._lock:
            for dev in self.devices:
                if dev.mode != 'sampling':
                    continue
                try:
                    p = _value(self._pynvml.nvmlDeviceGetPowerUsage(dev.reader)) / 1000.0
                except Exception as err:   # noqa: BLE001
                    dev.p_prev = None      # a gap: restart the integration at the next reading
                    self._gap = self._gap or f'cuda:{dev.index} power reading failed ' \
                                             f'({_describe(err)})'
                    continue
                t = time.monotonic()
                if dev.p_prev is not None:
                    dev.joules += (dev.p_prev + p) / 2 * (t - dev.t_prev)
                dev.p_prev, dev.t_prev = p, t

    def read(self) -> Dict[str, float]:
        if self._pynvml is None:
            raise SourceUnavailable('NVML is closed')
        self.poll()
        with self._lock:
            gap, self._gap = self._gap, None
        if gap:
            raise SourceGap(gap)
        total = 0.0
        for dev in self.devices:
            if dev.mode == 'counter':
                now = _value(self._pynvml.nvmlDeviceGetTotalEnergyConsumption(dev.reader))
                total += (now - dev.c0) / 1e3 * dev.share
            else:
                total += dev.joules * dev.share
        return {'gpu': total}

    def close(self) -> None:
        if self._pynvml is not None:
            try:
                self._pynvml.nvmlShutdown()
            except Exception:   # noqa: BLE001
                pass
            self._pynvml = None
