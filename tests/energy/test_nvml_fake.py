"""The NVML GPU path without a GPU: a fake ``pynvml`` module (tests/energy/fake_pynvml.py)
installed in ``sys.modules`` drives the real NvmlGpuSource and EnergyMeter code."""
import os.path as osp
import sys
import time

import pytest

from mmkd_green.energy import EnergyMeter
from mmkd_green.energy.sources import NvmlGpuSource, SourceUnavailable
from mmkd_green.energy.sources.nvml import SourceGap, resolve_handle

from fake_pynvml import FakeGpu, make_pynvml

COUNTER_CALL = 'nvmlDeviceGetTotalEnergyConsumption'
POWER_CALL = 'nvmlDeviceGetPowerUsage'


@pytest.fixture
def nvml(monkeypatch):
    """Two counter GPUs (A100s), CUDA_VISIBLE_DEVICES unset; returns the fake module."""
    monkeypatch.delenv('CUDA_VISIBLE_DEVICES', raising=False)
    nv = make_pynvml([FakeGpu('GPU-aaaa-1111'), FakeGpu('GPU-bbbb-2222')])
    monkeypatch.setitem(sys.modules, 'pynvml', nv)
    return nv


def _meter(tmp_path, **kwargs):
    kwargs.setdefault('poll_interval_s', 60.0)    # no background poll unless a test wants one
    return EnergyMeter(rapl_root=osp.join(tmp_path, 'no-rapl'), cpu_power_per_core_w=5.0,
                       **kwargs)


def test_energy_counter_path_reads_only_our_device_in_joules(nvml, tmp_path):
    meter = _meter(tmp_path, gpu_devices=[1]).start()
    meter.epoch_start()
    nvml.gpus[1].add_joules(7.25)
    nvml.gpus[0].add_joules(1000.0)            # another process's GPU: never read
    rec = meter.epoch_end()
    meter.stop()
    gpu = rec['components']['gpu']
    assert gpu['energy_j'] == pytest.approx(7.25)                  # mJ counter / 1000
    assert (gpu['method'], gpu['source']) == ('measured', 'nvml')
    assert 'cuda:1' in gpu['detail'] and 'energy counter' in gpu['detail']
    assert rec['measured'] is True
    assert nvml.initialised == 0                                   # nvmlShutdown at stop


def test_power_sampling_fallback_trapezoid_and_thread(monkeypatch, tmp_path):
    monkeypatch.delenv('CUDA_VISIBLE_DEVICES', raising=False)
    nv = make_pynvml([FakeGpu('GPU-old', name='Tesla P100', counter=False, power_w=50.0)])
    monkeypatch.setitem(sys.modules, 'pynvml', nv)
    source = NvmlGpuSource([0])
    source.open()
    dev = source.devices[0]
    assert dev.mode == 'sampling' and 'power sampling' in source.detail
    t0 = dev.t_prev
    nv.gpus[0].power_w = 70.0
    source.poll()
    t1 = dev.t_prev
    assert source.read()['gpu'] == pytest.approx((50.0 + 70.0) / 2 * (t1 - t0)
                                                 + 70.0 * (dev.t_prev - t1))
    source.close()

    meter = _meter(tmp_path, gpu_devices=[0], poll_interval_s=0.01).start()
    assert meter._poller.is_alive()                 # the sampling thread runs...
    calls = nv.calls[POWER_CALL]
    deadline = time.monotonic() + 30
    while nv.calls[POWER_CALL] < calls + 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert nv.calls[POWER_CALL] >= calls + 3       # ...and reads the power on its own
    rec = meter.epoch_end()
    meter.stop()
    assert not meter._poller.is_alive()             # ...and is stopped with the meter
    assert rec['components']['gpu']['energy_j'] == pytest.approx(70.0 * rec['seconds'], rel=0.5)
    assert rec['components']['gpu']['method'] == 'measured'


@pytest.mark.parametrize('visible, torch_index, expected', [
    (None, 1, 'GPU-bbbb-2222'),
    ('1,0', 0, 'GPU-bbbb-2222'),                   # indices: reordered
    ('1,0', 1, 'GPU-aaaa-1111'),
    ('GPU-bbbb-2222,GPU-aaaa-1111', 0, 'GPU-bbbb-2222'),   # UUIDs
    ('GPU-aa', 0, 'GPU-aaaa-1111'),                # a UUID prefix, as CUDA accepts
])
def test_cuda_visible_devices_mapping(nvml, monkeypatch, visible, torch_index, expected):
    if visible is not None:
        monkeypatch.setenv('CUDA_VISIBLE_DEVICES', visible)
    nvml.nvmlInit()
    handle, how = resolve_handle(nvml, torch_index)
    assert handle.gpu.uuid == expected and (visible is None or 'CUDA_VISIBLE_DEVICES' in how)


def test_uuid_from_torch_wins_and_bad_entries_say_why(nvml, monkeypatch):
    nvml.nvmlInit()
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '0')      # ignored when torch gives the UUID
    handle, how = resolve_handle(nvml, 0, uuid='bbbb-2222')   # torch's str(props.uuid)
    assert handle.gpu.uuid == 'GPU-bbbb-2222' and how == 'UUID GPU-bbbb-2222'
    with pytest.raises(SourceUnavailable, match='not among the devices NVML lists'):
        resolve_handle(nvml, 0, uuid='ffff')
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', 'GPU-')
    with pytest.raises(SourceUnavailable, match=r"'GPU-' .*matches 2 NVML devices"):
        resolve_handle(nvml, 0)
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '0')
    with pytest.raises(SourceUnavailable, match='not in CUDA_VISIBLE_DEVICES'):
        resolve_handle(nvml, 1)


def test_several_gpus_counter_and_sampling_summed(monkeypatch, tmp_path):
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', '2,0')
    nv = make_pynvml([FakeGpu('GPU-a'), FakeGpu('GPU-x'),
                      FakeGpu('GPU-c', counter=False, power_w=0.0)])
    monkeypatch.setitem(sys.modules, 'pynvml', nv)
    meter = _meter(tmp_path, gpu_devices=[0, 1]).start()   # cuda:0 = GPU-c, cuda:1 = GPU-a
    nv.gpus[0].add_joules(3.0)
    nv.gpus[1].add_joules(99.0)
    rec = meter.epoch_end()
    meter.stop()
    assert rec['components']['gpu']['energy_j'] == pytest.approx(3.0)   # 0 W sampled + 3 J
    detail = rec['components']['gpu']['detail']
    assert 'cuda:0' in detail and 'power sampling' in detail and 'cuda:1' in detail


def test_mig_instance_is_an_estimated_slice_share(monkeypatch, tmp_path):
    monkeypatch.setenv('CUDA_VISIBLE_DEVICES', 'MIG-dddd')
    nv = make_pynvml([FakeGpu('GPU-cccc', name='NVIDIA A100', mig=[('MIG-dddd', 3),
                                                                    ('MIG-eeee', 4)])])
    monkeypatch.setitem(sys.modules, 'pynvml', nv)
    meter = _meter(tmp_path, gpu_devices=[0]).start()
    nv.gpus[0].add_joules(70.0)                 # the whole physical GPU
    rec = meter.epoch_end()
    gpu = rec['components']['gpu']
    assert gpu['energy_j'] == pytest.approx(70.0 * 3 / 7)          # never the whole 70 J
    assert (gpu['method'], gpu['source']) == ('estimated', 'nvml-mig-share')
    assert 'MIG instance: 3/7' in gpu['detail']
    meter.stop()

    nv.fail('nvmlDeviceGetAttributes')          # share unknown: unavailable, not 70 J measured
    meter = _meter(tmp_path, gpu_devices=[0]).start()
    rec = meter.epoch_end()
    meter.stop()
    gpu = rec['components']['gpu']
    assert gpu['method'] == 'unavailable' and gpu['energy_j'] is None
    assert 'MIG instance' in gpu['detail'] and 'nvmlDeviceGetAttributes' in gpu['detail']
    assert rec['measured'] is False


@pytest.mark.parametrize('call, visible', [
    ('nvmlInit', None), ('nvmlDeviceGetHandleByIndex', None), ('nvmlDeviceGetName', None),
    ('nvmlDeviceGetCount', 'GPU-bbbb'), ('nvmlDeviceGetUUID', 'GPU-bbbb'),
    ('nvmlDeviceIsMigDeviceHandle', None),
    (COUNTER_CALL, None),                       # no counter: falls back to power sampling
    (POWER_CALL, None),                         # counter GPU: never needs power
])
def test_nvml_error_from_any_call_at_start(nvml, monkeypatch, tmp_path, caplog, call, visible):
    if visible:
        monkeypatch.setenv('CUDA_VISIBLE_DEVICES', visible)
    nvml.fail(call)
    meter = _meter(tmp_path, gpu_devices=[0]).start()       # never raises
    nvml.gpus[0].add_joules(5.0)
    nvml.gpus[1].add_joules(5.0)
    rec = meter.epoch_end()
    meter.stop()
    gpu, cpu = rec['components']['gpu'], rec['components']['cpu']
    assert cpu['method'] == 'estimated' and cpu['energy_j'] is not None   # others go on
    if call in (COUNTER_CALL, POWER_CALL, 'nvmlDeviceIsMigDeviceHandle'):
        assert gpu['method'] == 'measured' and gpu['energy_j'] is not None
        mode = 'power sampling' if call == COUNTER_CALL else 'energy counter'
        assert mode in gpu['detail']
    else:
        assert gpu['method'] == 'unavailable' and gpu['energy_j'] is None
        assert call in gpu['detail'] or (call == 'nvmlInit' and 'initialised' in gpu['detail'])
        assert rec['measured'] is False
        assert meter.describe()['components']['gpu']['method'] == 'unavailable'
        gpu_warnings = [r for r in caplog.records if 'GPU energy not measured' in r.getMessage()]
        assert len(gpu_warnings) == 1


@pytest.mark.parametrize('sampling', [False, True])
def test_nvml_error_mid_run_marks_that_epoch_and_retries(monkeypatch, tmp_path, sampling):
    monkeypatch.delenv('CUDA_VISIBLE_DEVICES', raising=False)
    nv = make_pynvml([FakeGpu('GPU-a', counter=not sampling, power_w=40.0)])
    monkeypatch.setitem(sys.modules, 'pynvml', nv)
    meter = _meter(tmp_path, gpu_devices=[0]).start()
    records = []
    for epoch in range(3):
        meter.epoch_start()
        nv.gpus[0].add_joules(10.0)
        if epoch == 1:     # the GPU errors once, at this epoch's end reading
            nv.fail(POWER_CALL if sampling else COUNTER_CALL, calls={1})
        records.append(meter.epoch_end())
    records.append(meter.stop())
    gpu = [r['components']['gpu'] for r in records]
    assert [r['measured'] for r in records] == [True, False, True, True]
    assert gpu[1]['energy_j'] is None and 'GPU is lost' in gpu[1]['error']
    assert gpu[1]['method'] == 'measured'        # the method; the reading failed this epoch
    for g in (gpu[0], gpu[2]):
        if sampling:
            assert g['energy_j'] > 0
        else:
            assert g['energy_j'] == pytest.approx(10.0)   # epoch 3 counted from its start


def test_sampling_gap_in_background_poll_is_a_gap_not_a_guess(monkeypatch):
    monkeypatch.delenv('CUDA_VISIBLE_DEVICES', raising=False)
    nv = make_pynvml([FakeGpu('GPU-a', counter=False, power_w=40.0)])
    monkeypatch.setitem(sys.modules, 'pynvml', nv)
    source = NvmlGpuSource([0])
    source.open()
    nv.fail(POWER_CALL, calls={1})
    source.poll()                                  # the poller's reading fails
    with pytest.raises(SourceGap, match='cuda:0 power reading failed'):
        source.read()
    e1 = source.read()['gpu']                      # integration restarted
    assert source.read()['gpu'] >= e1
    nv.fail('nvmlShutdown')
    source.close()                                 # an error at shutdown is ignored


def test_gpu_devices_resolved_when_the_first_epoch_starts(nvml, tmp_path):
    """A pipeline that moves to CUDA after start() (the upstream-CMI adapter) is metered."""
    on_cuda = []
    meter = _meter(tmp_path, gpu_devices=lambda: list(on_cuda)).start()
    assert 'gpu' not in meter.components           # nothing resolved at start
    on_cuda.append(0)                              # the model moves to cuda:0
    meter.epoch_start()
    nvml.gpus[0].add_joules(4.0)
    rec = meter.epoch_end()
    meter.stop()
    assert rec['components']['gpu']['energy_j'] == pytest.approx(4.0)


def test_bad_gpu_settings_are_rejected_with_the_valid_values():
    for bad in ('cuda:0', [0, -1], [True], 0):
        with pytest.raises(ValueError, match=r'"auto".*None.*list of CUDA indices'):
            EnergyMeter(gpu_devices=bad)
    with pytest.raises(ValueError, match=r"`gpu_mode` must be one of \('auto', 'counter', "):
        EnergyMeter(gpu_mode='mean')
