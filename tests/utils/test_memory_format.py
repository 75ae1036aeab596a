"""channels_last where it is safe: the decision from /proc/cpuinfo flags, oneDNN's ISA cap and the
device, the config's override, and real tiny-KD training with the defaults (also on an AVX2-capped
oneDNN, where channels_last would hang or crash)."""
import os
import os.path as osp
import sys

import pytest
import torch

from mmkd_green.classification.models.data_preprocessor import ClsDataPreprocessor
from mmkd_green.utils.memory_format import (channels_last_hazard, cpu_flags, onednn_isa_cap,
                                            resolve_channels_last)
from tests.fixtures import limits

HERE = osp.dirname(osp.abspath(__file__))
# first-CPU lines of /proc/cpuinfo: an AMD EPYC with AVX2 only, an Intel Xeon with AVX-512
AVX2_ONLY = '''processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC 7B12
flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr sse sse2 ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm sse4a bmi1 avx2 smep bmi2 rdseed adx smap clflushopt sha_ni xsaveopt xsavec xgetbv1 clzero xsaveerptr arat npt nrip_save umip rdpid
'''
AVX512 = '''processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Processor
flags\t\t: fpu vme de pse tsc sse sse2 ssse3 fma cx16 sse4_1 sse4_2 avx f16c avx2 bmi2 avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512_vnni amx_tile
'''
X86 = dict(machine='x86_64', torch_version='2.14.1', mkldnn=True)


def test_cpuinfo_flags_are_parsed():
    assert 'avx2' in cpu_flags(AVX2_ONLY) and 'avx512f' not in cpu_flags(AVX2_ONLY)
    assert 'avx512f' in cpu_flags(AVX512)
    assert cpu_flags('processor : 0\n') is None


def test_avx2_only_cpu_is_a_hazard_and_avx512_is_not():
    reason = channels_last_hazard(cpu_flags(AVX2_ONLY), env={}, **X86)
    assert 'AVX2 but no AVX-512' in reason and '2.14.1' in reason and '1x1 stride-2' in reason
    assert channels_last_hazard(cpu_flags(AVX512), env={}, **X86) is None


@pytest.mark.parametrize('cap,hazard', [('AVX2', True), ('avx2_vnni', True), ('SSE41', True),
                                        ('AVX512_CORE_BF16', False), ('AVX10_1_512', False),
                                        ('ALL', False), ('', False)])
def test_onednn_isa_cap_counts_as_the_cpu(cap, hazard):
    env = {'ONEDNN_MAX_CPU_ISA': cap}
    assert (channels_last_hazard(cpu_flags(AVX512), env=env, **X86) is not None) is hazard
    if hazard:
        assert onednn_isa_cap(env) == cap.upper()
    assert onednn_isa_cap({'DNNL_MAX_CPU_ISA': 'avx2'}) == 'AVX2'


def test_no_onednn_or_not_x86_is_safe():
    flags = cpu_flags(AVX2_ONLY)
    assert channels_last_hazard(flags, env={}, machine='aarch64', mkldnn=True) is None
    assert channels_last_hazard(flags, env={}, machine='x86_64', mkldnn=False) is None


@pytest.fixture
def logged():
    """The messages logged through a new current MMLogger (mmengine's ``print_log`` target)."""
    import logging
    import uuid

    from mmengine.logging import MMLogger
    logger = MMLogger.get_instance(f'memory-format-{uuid.uuid4().hex}', log_level='INFO')
    messages = []

    class Keep(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    logger.handlers = [Keep()]
    return messages


def test_resolve_auto_falls_back_with_one_logged_line(logged):
    reason = channels_last_hazard(cpu_flags(AVX2_ONLY), env={}, **X86)
    assert resolve_channels_last('auto', 'cpu', hazard=reason) is False
    assert resolve_channels_last(None, 'cpu', hazard=reason) is False
    assert len(logged) == 1 and logged[0].startswith('channels_last off (model runs NCHW)')
    assert 'AVX2 but no AVX-512' in logged[0] and 'channels_last=True' in logged[0]
    assert resolve_channels_last('auto', 'cpu', hazard=None) is True
    assert resolve_channels_last('auto', 'cuda', hazard=reason) is True   # no oneDNN on a GPU


def test_resolve_forced_choices(logged):
    reason = channels_last_hazard(cpu_flags(AVX2_ONLY), env={}, **X86)
    assert resolve_channels_last(False, 'cpu', hazard=None) is False
    assert resolve_channels_last(True, 'cpu', hazard=None) is True
    assert resolve_channels_last(True, 'cpu', hazard=reason) is True
    assert len(logged) == 1 and logged[0].startswith('channels_last=True forced although')
    assert resolve_channels_last(False, 'cuda', hazard=None) is False
    with pytest.raises(ValueError, match="True, False or 'auto'"):
        resolve_channels_last('yes', 'cpu', hazard=None)


def test_preprocessor_default_follows_the_onednn_cap(monkeypatch):
    mean, std = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    monkeypatch.setenv('ONEDNN_MAX_CPU_ISA', 'AVX2')
    assert ClsDataPreprocessor(mean, std).channels_last is (torch.cuda.is_available()
                                                             or channels_last_hazard() is None)
    assert ClsDataPreprocessor(mean, std, channels_last=True).channels_last is True
    monkeypatch.delenv('ONEDNN_MAX_CPU_ISA')
    assert ClsDataPreprocessor(mean, std, channels_last=False).channels_last is False


def _train_tiny_kd(tmp_path, env_extra, *args, timeout=limits.CHILD_TIMEOUT):
    env = dict(os.environ, **env_extra)
    return limits.run([sys.executable, osp.join(HERE, 'layout_helpers.py'), str(tmp_path), *args],
                      env=env, capture_output=True, text=True, timeout=timeout)


def test_tiny_cifar_kd_trains_with_the_defaults_here(tmp_path):
    """One epoch of the tiny CIFAR teacher and KD configs, default layout, on this machine."""
    proc = _train_tiny_kd(tmp_path, {'OMP_NUM_THREADS': '2'})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    expected = channels_last_hazard() is None
    for name in ('teacher', 'kd'):
        assert f'{name}: channels_last={expected} finished=True' in proc.stdout


@pytest.mark.skipif(channels_last_hazard(env={}) is not None or sys.platform != 'linux',
                    reason='this CPU is AVX2-only: the test above already runs the fallback')
def test_tiny_cifar_kd_trains_with_the_defaults_on_an_avx2_onednn(tmp_path):
    """oneDNN capped at AVX2 picks the same kernels as on an AVX2-only CPU: with the defaults the
    runs fall back to NCHW and finish (in channels_last the teacher crashes or hangs: next test)."""
    proc = _train_tiny_kd(tmp_path, {'OMP_NUM_THREADS': '2', 'ONEDNN_MAX_CPU_ISA': 'AVX2'})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    for name in ('teacher', 'kd'):
        assert f'{name}: channels_last=False finished=True' in proc.stdout
    assert 'channels_last off (model runs NCHW)' in proc.stdout + proc.stderr


@pytest.mark.skipif(sys.platform != 'linux', reason='the hazard was only seen on Linux x86')
def test_forced_channels_last_on_an_avx2_onednn_still_fails(tmp_path):
    """The premise of the fallback, kept honest: training the tiny teacher in channels_last on an
    AVX2 oneDNN still crashes with 1 thread (with 2 it spins); when a torch release fixes the
    kernel, this test fails and the rule can be narrowed."""
    import subprocess
    try:
        proc = _train_tiny_kd(tmp_path, {'OMP_NUM_THREADS': '1', 'ONEDNN_MAX_CPU_ISA': 'AVX2'},
                              '--force', 'true', '--teacher-only', timeout=120)
    except subprocess.TimeoutExpired:
        return   # hung: the hazard is there
    assert proc.returncode != 0, 'channels_last training on an AVX2 oneDNN finished: ' \
        'torch may have fixed the kernel; re-run benchmarks/onednn_probe.py'
