"""Energy of the NVIDIA GPUs this process uses, through NVML (``nvidia-ml-py``).

Per device, one of:

* energy counter (Volta and newer): ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since driver
  load); ``E = (c1 - c0) / 1000`` J;
* power sampling (older GPUs): ``nvmlDeviceGetPowerUsage`` (mW) read every poll, integrated with
  the trapezoid rule ``E += (P_prev + P_now) / 2 * Δt``.

Only the devices given (torch CUDA indices, default: the current device) are read, never every
GPU of the machine; a torch index is mapped to its NVML handle through the device UUID, so
``CUDA_VISIBLE_DEVICES`` reordering is handled. Scope ``device``: every DDP rank reads its own GPU.
"""
import threading
import time
from typing import Dict, List, Optional, Sequence

from .base import EnergySource, SourceUnavailable


class _Device:
    def __init__(self, index, handle, name, counter):
        self.index, self.handle, self.name, self.counter = index, handle, name, counter
        self.c0 = None            # counter mode: first reading (mJ)
        self.joules = 0.0         # sampling mode: integrated energy
        self.p_prev = None
        self.t_prev = None


def _nvml_handle(pynvml, torch_index: int):
    import torch
    props = torch.cuda.get_device_properties(torch_index)
    uuid = getattr(props, 'uuid', None)
    if uuid is not None:
        text = str(uuid)
        try:
            return pynvml.nvmlDeviceGetHandleByUUID(
                text if text.startswith(('GPU-', 'MIG-')) else f'GPU-{text}')
        except pynvml.NVMLError:
            pass
    bus = getattr(props, 'pci_bus_id', None)
    if bus is not None:
        domain = getattr(props, 'pci_domain_id', 0)
        device = getattr(props, 'pci_device_id', 0)
        return pynvml.nvmlDeviceGetHandleByPciBusId(f'{domain:08x}:{bus:02x}:{device:02x}.0')
    raise SourceUnavailable(f'cannot map CUDA device {torch_index} to an NVML device')


class NvmlGpuSource(EnergySource):
    """``measured`` GPU energy of the given CUDA devices."""

    components = ('gpu',)
    method = 'measured'
    scope = 'device'

    def __init__(self, devices: Optional[Sequence[int]] = None):
        self.device_indices = None if devices is None else [int(d) for d in devices]
        self.devices: List[_Device] = []
        self.detail = 'NVML'
        self._lock = threading.Lock()
        self._pynvml = None

    def open(self) -> None:
        try:
            import pynvml
        except ImportError as err:
            raise SourceUnavailable(f'nvidia-ml-py is not installed ({err}); `pip install '
                                    'nvidia-ml-py` (it comes with carbontracker)')
        import torch
        indices = self.device_indices
        if indices is None:
            if not torch.cuda.is_available():
                raise SourceUnavailable('no CUDA device in use by this process')
            indices = [torch.cuda.current_device()]
        if not indices:
            raise SourceUnavailable('no CUDA device in use by this process')
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError as err:
            raise SourceUnavailable(f'NVML cannot be initialised ({err}): no NVIDIA driver?')
        self._pynvml = pynvml
        devices = []
        for index in indices:
            handle = _nvml_handle(pynvml, index)
            name = pynvml.nvmlDeviceGetName(handle)
            name = name.decode() if isinstance(name, bytes) else name
            try:
                c0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
                dev = _Device(index, handle, name, counter=True)
                dev.c0 = c0
            except pynvml.NVMLError:
                dev = _Device(index, handle, name, counter=False)
                dev.p_prev = pynvml.nvmlDeviceGetPowerUsage(handle) / 1000.0
                dev.t_prev = time.monotonic()
            devices.append(dev)
        self.devices = devices
        how = ', '.join(f'cuda:{d.index} {d.name} ('
                        f'{"energy counter" if d.counter else "power sampling"})' for d in devices)
        self.detail = f'NVML {how}'

    def poll(self) -> None:
        with self._lock:
            for dev in self.devices:
                if dev.counter:
                    continue
                p = self._pynvml.nvmlDeviceGetPowerUsage(dev.handle) / 1000.0
                t = time.monotonic()
                dev.joules += (dev.p_prev + p) / 2 * (t - dev.t_prev)
                dev.p_prev, dev.t_prev = p, t

    def read(self) -> Dict[str, float]:
        self.poll()
        total = 0.0
        for dev in self.devices:
            if dev.counter:
                total += (self._pynvml.nvmlDeviceGetTotalEnergyConsumption(dev.handle) - dev.c0) / 1e3
            else:
                total += dev.joules
        return {'gpu': total}

    def close(self) -> None:
        if self._pynvml is not None:
            try:
                self._pynvml.nvmlShutdown()
            except Exception:
                pass
            self._pynvml = None
