"""The CPU-time estimate on this machine (no RAPL, no GPU here)."""
import os.path as osp

import pytest

from mmkd_green.energy import DEFAULT_WATTS_PER_CORE, EnergyMeter
from mmkd_green.energy.sources import ProcessCpuEstimate, per_core_power, process_cpu_seconds


def _burn(seconds):
    t0 = process_cpu_seconds()
    x = 0
    while process_cpu_seconds() - t0 < seconds:
        x += sum(i * i for i in range(20000))
    return x


def test_per_core_figure():
    assert per_core_power(7.5) == (7.5, 'config cpu_power_per_core_w')
    watts, why = per_core_power()
    assert watts > 0 and why
    if not osp.isdir('/sys/class/powercap'):
        # this machine's CPU ('AMD EPYC' in a VM) is not in the table: the documented default
        assert watts == DEFAULT_WATTS_PER_CORE and 'default' in why


@pytest.mark.parametrize('flags, cores, watts, why', [
    ('fpu sse2', '20', 7.5, 'carbontracker TDP table: Intel Xeon Gold 6248 150 W / 20 cores'),
    ('fpu hypervisor', '20', DEFAULT_WATTS_PER_CORE, 'virtual machine'),
    ('fpu', '', DEFAULT_WATTS_PER_CORE, 'core count unknown'),
])
def test_per_core_figure_from_the_tdp_table_only_on_bare_metal(flags, cores, watts, why):
    """TDP / physical cores needs the physical package: a VM or an unknown core count falls
    back to the default, with the reason."""
    cpuinfo = {'model name': 'Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz', 'flags': flags,
               'cpu cores': cores}
    got_watts, got_why = per_core_power(cpuinfo=cpuinfo)
    assert got_watts == pytest.approx(watts) and why in got_why
    unknown = per_core_power(cpuinfo=dict(cpuinfo, **{'model name': 'Imaginary CPU 9000'}))
    assert unknown[0] == DEFAULT_WATTS_PER_CORE
    assert ('not in carbontracker' in unknown[1]) == (watts != DEFAULT_WATTS_PER_CORE)


def test_estimate_is_cpu_time_times_power_and_labelled():
    src = ProcessCpuEstimate(watts_per_core=7.0)
    src.open()
    _burn(0.3)
    seconds = src.cpu_seconds()
    energy = src.read()['cpu']
    assert seconds >= 0.3
    assert energy == pytest.approx(7.0 * src.cpu_seconds(), abs=7.0 * 0.05)
    assert src.method == 'estimated' and 'process CPU time' in src.detail


@pytest.mark.skipif(osp.isdir('/sys/class/powercap'), reason='machine has RAPL')
def test_meter_on_this_machine_uses_the_estimate():
    meter = EnergyMeter(gpu_devices='auto', cpu_power_per_core_w=5.0).start()
    meter.epoch_start()
    _burn(0.2)
    rec = meter.epoch_end()
    meter.stop()
    cpu, dram = rec['components']['cpu'], rec['components']['dram']
    assert cpu['method'] == 'estimated' and cpu['energy_j'] >= 5.0 * 0.2
    assert dram['method'] == 'unavailable' and dram['energy_j'] is None   # not a silent 0
    assert 'gpu' not in rec['components']      # no CUDA device used by this process
    assert rec['measured'] is True


def test_gpu_asked_for_but_unreadable_is_unmeasured_not_zero(caplog):
    """On this CPU-only machine NVML cannot start: the GPU component says so (never 0 J)."""
    import torch
    if torch.cuda.is_available():
        pytest.skip('machine has a CUDA device')
    meter = EnergyMeter(gpu_devices=[0], cpu_power_per_core_w=5.0).start()
    rec = meter.epoch_end()
    meter.stop()
    gpu = rec['components']['gpu']
    assert gpu['method'] == 'unavailable' and gpu['energy_j'] is None and 'NVML' in gpu['detail']
    assert rec['measured'] is False
