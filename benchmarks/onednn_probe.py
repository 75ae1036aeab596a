"""Map where torch's oneDNN convolution hangs or crashes: one subprocess per case, with a timeout.

Each case runs ``--repeats`` forward (+ backward) passes of one ``Conv2d`` in a fresh Python
process with a given thread count, memory format, kernel size, stride, channel counts, dtype and
pass (``fwd``: forward only; ``dx``: input gradient only; ``dw``: weight gradient only), with
oneDNN optionally capped at an instruction set (``ONEDNN_MAX_CPU_ISA``, plus
``ATEN_CPU_CAPABILITY`` for torch's own kernels). Outcome per case: ``ok``, ``hang`` (still running
at ``--timeout`` seconds, killed), ``crash`` (killed by a signal: SIGSEGV, SIGABRT, ...) or
``error`` (a Python exception).

Plan: a baseline case (the one of issue 20: 2 threads, channels_last, 1x1, stride 2, 4 → 8
channels, weight gradient, fp32), every factor varied one at a time around it, a channel sweep of
the hazardous cell, and the baseline without the ISA cap. On an AVX-512 machine the default cap
is ``AVX2`` (an emulation of an AVX2-only CPU: oneDNN picks the same AVX2 kernels); on an AVX2-only
machine no cap is needed (``--isa native``). Prints one JSON object; ``--out`` also writes it.

    python benchmarks/onednn_probe.py [--isa AVX2|native] [--timeout 15] [--repeats 20]
"""
import argparse
import json
import os
import os.path as osp
import platform
import signal
import subprocess
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

BASE = dict(threads=2, layout='channels_last', kernel=1, stride=2, cin=4, cout=8, pass_='dw',
            dtype='fp32', size=32, batch=8)
VARY = dict(threads=[1], layout=['nchw'], kernel=[3], stride=[1], pass_=['fwd', 'dx'],
            dtype=['bf16'], size=[16, 64], batch=[1, 32])
CHANNELS = [(1, 8), (2, 8), (3, 8), (4, 4), (4, 16), (4, 64), (6, 12), (8, 8), (8, 16), (12, 24),
            (16, 32), (32, 4), (64, 128), (3, 32)]

CHILD = r'''
import json, sys, torch
c = json.loads(sys.argv[1])
torch.set_num_threads(c['threads'])
fmt = torch.channels_last if c['layout'] == 'channels_last' else torch.contiguous_format
dtype = torch.bfloat16 if c['dtype'] == 'bf16' else torch.float32
conv = torch.nn.Conv2d(c['cin'], c['cout'], c['kernel'], stride=c['stride'],
                       padding=c['kernel'] // 2, bias=False).to(dtype=dtype, memory_format=fmt)
x = torch.randn(c['batch'], c['cin'], c['size'], c['size'], dtype=dtype).contiguous(
    memory_format=fmt)
conv.weight.requires_grad_(c['pass_'] == 'dw')
x.requires_grad_(c['pass_'] == 'dx')
for _ in range(c['repeats']):
    y = conv(x)
    if c['pass_'] != 'fwd':
        y.float().sum().backward()
print('ok')
'''


def cases(isa):
    plan = [dict(BASE)]
    for key, values in VARY.items():
        plan += [dict(BASE, **{key: v}) for v in values]
    plan += [dict(BASE, cin=ci, cout=co) for ci, co in CHANNELS if (ci, co) != (4, 8)]
    plan += [dict(BASE, threads=1, cin=ci, cout=co) for ci, co in ((3, 8), (16, 32))]
    for case in plan:
        case['isa'] = isa
    if isa != 'native':
        plan.append(dict(BASE, isa='native'))
    return plan


def run_case(case, timeout, repeats):
    env = dict(os.environ)
    for key in ('ONEDNN_MAX_CPU_ISA', 'DNNL_MAX_CPU_ISA', 'ATEN_CPU_CAPABILITY'):
        env.pop(key, None)
    if case['isa'] != 'native':
        env['ONEDNN_MAX_CPU_ISA'] = case['isa']
        env['ATEN_CPU_CAPABILITY'] = case['isa'].lower() if case['isa'].upper() in (
            'AVX2', 'AVX512') else 'default'
    args = dict(case, repeats=repeats)
    start = time.monotonic()
    # start_new_session: a hung child and its OpenMP threads are killed as one process group
    proc = subprocess.Popen([sys.executable, '-c', CHILD, json.dumps(args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return dict(case, outcome='hang', seconds=round(time.monotonic() - start, 1))
    seconds = round(time.monotonic() - start, 1)
    if proc.returncode == 0 and out.strip().endswith('ok'):
        return dict(case, outcome='ok', seconds=seconds)
    if proc.returncode < 0:
        return dict(case, outcome='crash', signal=signal.Signals(-proc.returncode).name,
                    seconds=seconds)
    return dict(case, outcome='error', returncode=proc.returncode,
                message=(err.strip().splitlines() or [''])[-1][:300], seconds=seconds)


def environment():
    import torch
    from mmkd_green.utils.memory_format import channels_last_hazard, cpu_flags
    flags = cpu_flags() or frozenset()
    model = ''
    try:
        with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as f:
            model = next((ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name')),
                         '')
    except OSError:
        pass
    return dict(torch=torch.__version__, onednn=str(torch.backends.mkldnn.is_available()),
                python=platform.python_version(), cpu=model, cores=os.cpu_count(),
                avx2='avx2' in flags, avx512f='avx512f' in flags,
                product_decision_native=channels_last_hazard() or 'channels_last safe')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--isa', default=None,
                        help="oneDNN ISA cap for the cases (AVX2, AVX, SSE41, ...) or 'native'; "
                             'default: AVX2 on an AVX-512 CPU (emulation), native otherwise')
    parser.add_argument('--timeout', type=float, default=15.0, help='seconds per case')
    parser.add_argument('--repeats', type=int, default=20, help='passes per case')
    parser.add_argument('--out', default=None)
    a = parser.parse_args(argv)
    env = environment()
    isa = a.isa or ('AVX2' if env['avx512f'] else 'native')
    rows = []
    for case in cases(isa):
        rows.append(run_case(case, a.timeout, a.repeats))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    bad = [r for r in rows if r['outcome'] != 'ok']
    result = dict(environment=env, isa=isa, timeout_s=a.timeout, repeats=a.repeats, cases=rows,
                  summary=dict(total=len(rows), ok=len(rows) - len(bad),
                               hang=sum(r['outcome'] == 'hang' for r in rows),
                               crash=sum(r['outcome'] == 'crash' for r in rows),
                               error=sum(r['outcome'] == 'error' for r in rows)))
    from mmkd_green.energy.records import print_json
    print_json(result, a.out)
    return result


if __name__ == '__main__':
    main()
