"""A stand-in for the ``pynvml`` module (nvidia-ml-py) on machines without an NVIDIA GPU.

``make_pynvml(gpus)`` returns a real module object to install as ``sys.modules['pynvml']`` (the
``fake_nvml`` fixture does that). It implements the NVML calls the meter makes, with the units
and return types of nvidia-ml-py (energy in mJ, power in mW, ``nvmlDeviceGetMigMode`` returning
``[current, pending]``), over simulated GPUs whose energy the test advances:

    nv = make_pynvml([FakeGpu('GPU-aaaa'), FakeGpu('GPU-bbbb', counter=False, power_w=50.0)])
    nv.gpus[0].add_joules(12.5)               # counter GPUs
    nv.gpus[1].power_w = 80.0                 # sampling GPUs: read by nvmlDeviceGetPowerUsage
    nv.fail('nvmlDeviceGetName')              # NVMLError from every later call of it
    nv.fail('nvmlDeviceGetTotalEnergyConsumption', calls={3})   # only its 3rd call fails

A MIG instance: ``FakeGpu('GPU-cccc', mig=[('MIG-dddd', 3)], slices=7)``.
"""
import types
from typing import Dict, Iterable, List, Optional, Set, Tuple

NVML_ERROR_NOT_SUPPORTED = 3
NVML_ERROR_NOT_FOUND = 6
NVML_ERROR_GPU_IS_LOST = 15


class NVMLError(Exception):
    def __init__(self, value):
        super().__init__(value)
        self.value = value

    def __str__(self):
        return {3: 'Not Supported', 6: 'Not Found', 15: 'GPU is lost'}.get(self.value, 'Unknown Error')


class FakeGpu:
    def __init__(self, uuid: str, name: str = 'NVIDIA A100-SXM4-40GB', counter: bool = True,
                 power_w: float = 100.0, mig: Optional[List[Tuple[str, int]]] = None,
                 slices: int = 7):
        self.uuid, self.name, self.counter, self.power_w = uuid, name, counter, power_w
        self.energy_mj = 123_456_789          # since driver load
        self.mig = list(mig or [])             # (uuid, GPU-instance slices)
        self.slices = slices

    def add_joules(self, joules: float) -> None:
        self.energy_mj += int(round(joules * 1000))


class _Handle:
    def __init__(self, gpu: FakeGpu, mig: Optional[int] = None):
        self.gpu, self.mig = gpu, mig

    def __repr__(self):
        return f'<fake nvmlDevice {self.gpu.uuid}{"" if self.mig is None else f" MIG {self.mig}"}>'


def make_pynvml(gpus: Iterable[FakeGpu]) -> types.ModuleType:
    mod = types.ModuleType('pynvml')
    mod.__file__ = __file__
    mod.NVMLError = NVMLError
    mod.NVML_ERROR_NOT_SUPPORTED = NVML_ERROR_NOT_SUPPORTED
    mod.NVML_GPU_INSTANCE_PROFILE_COUNT = 8
    mod.gpus = list(gpus)
    mod.calls: Dict[str, int] = {}
    mod.failing: Dict[str, Optional[Set[int]]] = {}
    mod.initialised = 0

    def fail(name: str, calls: Optional[Iterable[int]] = None, error: int = NVML_ERROR_GPU_IS_LOST):
        """Make ``name`` raise NVMLError(error) on the given call numbers (1-based, counted from
        now), or on every call when ``calls`` is None."""
        mod.calls[name] = 0
        mod.failing[name] = (None if calls is None else set(calls), error)

    def heal(name: str) -> None:
        mod.failing.pop(name, None)

    mod.fail, mod.heal = fail, heal

    def api(fn):
        def wrapper(*args):
            name = fn.__name__
            mod.calls[name] = mod.calls.get(name, 0) + 1
            if name in mod.failing:
                which, error = mod.failing[name]
                if which is None or mod.calls[name] in which:
                    raise NVMLError(error)
            return fn(*args)
        wrapper.__name__ = fn.__name__
        setattr(mod, fn.__name__, wrapper)
        return wrapper

    def _need_init():
        if mod.initialised <= 0:
            raise NVMLError(1)

    @api
    def nvmlInit():
        mod.initialised += 1

    @api
    def nvmlShutdown():
        _need_init()
        mod.initialised -= 1

    @api
    def nvmlDeviceGetCount():
        _need_init()
        return len(mod.gpus)

    @api
    def nvmlDeviceGetHandleByIndex(index):
        _need_init()
        if not 0 <= index < len(mod.gpus):
            raise NVMLError(2)
        return _Handle(mod.gpus[index])

    @api
    def nvmlDeviceGetHandleByUUID(uuid):
        _need_init()
        uuid = uuid.decode() if isinstance(uuid, bytes) else uuid
        for gpu in mod.gpus:
            if gpu.uuid == uuid:
                return _Handle(gpu)
            for i, (mig_uuid, _) in enumerate(gpu.mig):
                if mig_uuid == uuid:
                    return _Handle(gpu, i)
        raise NVMLError(NVML_ERROR_NOT_FOUND)

    @api
    def nvmlDeviceGetUUID(handle):
        return handle.gpu.uuid if handle.mig is None else handle.gpu.mig[handle.mig][0]

    @api
    def nvmlDeviceGetName(handle):
        return handle.gpu.name if handle.mig is None else \
            f'{handle.gpu.name} MIG {handle.gpu.mig[handle.mig][1]}g'

    @api
    def nvmlDeviceGetTotalEnergyConsumption(handle):
        if handle.mig is not None or not handle.gpu.counter:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return handle.gpu.energy_mj

    @api
    def nvmlDeviceGetPowerUsage(handle):
        if handle.mig is not None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return int(round(handle.gpu.power_w * 1000))

    @api
    def nvmlDeviceIsMigDeviceHandle(handle):
        return int(handle.mig is not None)

    @api
    def nvmlDeviceGetMigMode(handle):
        on = int(bool(handle.gpu.mig))
        return [on, on]

    @api
    def nvmlDeviceGetMaxMigDeviceCount(handle):
        return len(handle.gpu.mig)

    @api
    def nvmlDeviceGetMigDeviceHandleByIndex(handle, index):
        if not 0 <= index < len(handle.gpu.mig):
            raise NVMLError(NVML_ERROR_NOT_FOUND)
        return _Handle(handle.gpu, index)

    @api
    def nvmlDeviceGetDeviceHandleFromMigDeviceHandle(handle):
        return _Handle(handle.gpu)

    @api
    def nvmlDeviceGetAttributes(handle):
        if handle.mig is None:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return types.SimpleNamespace(gpuInstanceSliceCount=handle.gpu.mig[handle.mig][1],
                                     multiprocessorCount=14 * handle.gpu.mig[handle.mig][1])

    @api
    def nvmlDeviceGetGpuInstanceProfileInfo(handle, profile, version=2):
        if not handle.gpu.mig:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        sizes = {0: 1, 1: 2, 2: 3, 3: 4, 4: 7}
        if profile not in sizes or sizes[profile] > handle.gpu.slices:
            raise NVMLError(NVML_ERROR_NOT_SUPPORTED)
        return types.SimpleNamespace(sliceCount=sizes[profile])

    return mod
