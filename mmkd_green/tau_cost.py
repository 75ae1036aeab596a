"""Cost of the τ study's two ways to get a student: a fixed-τ grid vs one stochastic run.

From medians, so one run slowed by machine load does not move the ratio. For one loss arm,
``m_g`` = median cost of a grid run, ``m_q`` = median cost of a run of stochastic sampler ``q``
(every KD run has the same model, data and epochs: τ does not change the compute), ``T`` = the
teacher's cost (trained once, needed by both ways), ``G`` = grid size, and ``P = 20`` the paper's
grid. Per cost key (kWh, g CO2-eq, train FLOPs, seconds):

* student only:  grid ``G · m_g`` vs one run ``m_q``;  ratio ``G · m_g / m_q``
* end to end:    teacher + grid ``T + G · m_g`` vs teacher + one run ``T + m_q``;
                 ratio ``(T + G · m_g) / (T + m_q)``
* the paper's grid: the same with ``P`` in place of ``G``.

Teacher-logit sharing (computed, not run): with one teacher forward per (seed, iteration) for all
``G`` runs of a seed, the grid pays the teacher forward once instead of ``G`` times. With ``f_k``
the teacher forward's share of a KD training step for cost key ``k``::

    grid with sharing  G · m_g − (G − 1) · f_k · m_g = m_g · (G − (G − 1) · f_k)

:func:`teacher_forward_share` measures two shares on a real batch of the arm's model: the FLOP
share (counted, exact in the meter's convention), used for ``train_flops``, and the time share
(median of interleaved timed repeats on this machine), used for ``seconds`` and the energy and
CO2 keys (on CPUs without RAPL the meter's energy is CPU time × power, so energy follows time).
The two differ a lot where the student's FLOPs are slow ones (depthwise convolutions): a teacher
that is 60 % of the FLOPs can be 10 % of the time. Only the training step is shared; start-up,
evaluation and checkpoints are not, so the time share is an upper bound of the run's saving.
A single stochastic run is unchanged (it already runs the teacher once per iteration), so
sharing makes the grid cheaper and the ratios smaller.

Slow runs: a KD run of the arm whose ``seconds`` exceed ``1.5 ×`` the median seconds of the
arm's KD runs is flagged (a load artifact: the compute is the same, so the time should be).
"""
from typing import Dict, List, Optional, Sequence

import numpy as np

from mmkd_green.energy.flops import count_flops

PAPER_GRID_RUNS = 20
SLOW_FACTOR = 1.5
KEYS = ('energy_kwh', 'co2_g', 'train_flops', 'seconds')


def _median(rows: List[dict], key: str) -> Optional[float]:
    vals = [r.get(key) for r in rows]
    if not vals or any(v is None for v in vals):
        return None
    return float(np.median(vals))


def _div(a, b):
    return None if a is None or b is None or b == 0 else a / b


def slow_runs(rows: List[dict], factor: float = SLOW_FACTOR) -> List[dict]:
    """Runs slower than ``factor ×`` the median ``seconds`` of ``rows``."""
    med = _median([r for r in rows if r.get('seconds') is not None], 'seconds')
    if not med:
        return []
    return [dict(label=r['label'], seconds=r['seconds'], times_median=r['seconds'] / med)
            for r in rows if r.get('seconds') is not None and r['seconds'] > factor * med]


def teacher_forward_share(model, inputs, repeats: int = 5) -> dict:
    """One KD training step on ``inputs`` split into the teacher forward (``model.teacher_logits``)
    and the student's forward + backward (``model.extract_logits``, summed and back-propagated:
    the KD loss itself adds no FLOPs in the meter's convention).

    FLOPs ``F_t``, ``F_s`` counted once; times ``t_t``, ``t_s`` the medians of ``repeats``
    interleaved timed calls after one untimed warm-up each. ``flop_share = F_t / (F_t + F_s)``,
    ``time_share = t_t / (t_t + t_s)``. Gradients are cleared afterwards."""
    import time

    def student_step():
        model.extract_logits(inputs).float().sum().backward()
        model.zero_grad(set_to_none=True)

    _, f_t = count_flops(model.teacher_logits, inputs)
    _, f_s = count_flops(student_step)
    times = {'t': [], 's': []}
    for i in range(int(repeats) + 1):
        for key, fn in (('t', lambda: model.teacher_logits(inputs)), ('s', student_step)):
            t0 = time.perf_counter()
            fn()
            if i:   # the first round warms up
                times[key].append(time.perf_counter() - t0)
    t_t, t_s = (float(np.median(times[k])) if times[k] else None for k in ('t', 's'))
    return dict(batch=int(inputs.shape[0]), teacher_forward_flops=int(f_t),
                student_step_flops=int(f_s), flop_share=_div(f_t, f_t + f_s),
                teacher_forward_s=t_t, student_step_s=t_s, repeats=int(repeats),
                time_share=None if t_t is None else _div(t_t, t_t + t_s))


def _share_of(teacher_share: Optional[dict], key: str) -> Optional[float]:
    """The share of :func:`teacher_forward_share` that applies to cost ``key``."""
    if not teacher_share:
        return None
    return teacher_share.get('flop_share' if key == 'train_flops' else 'time_share')


def arm_cost(rows: List[dict], teacher: Optional[dict], grid_size: int,
             samplers: Sequence[str], teacher_share: Optional[dict] = None) -> dict:
    """The module doc's numbers for one arm; ``rows`` its finished KD runs, ``teacher`` the
    teacher run (None: the study trains none, its cost is unknown and end-to-end is left out);
    ``teacher_share`` (:func:`teacher_forward_share` of the arm's model): adds the grid with
    teacher-logit sharing."""
    grid = [r for r in rows if r.get('kind') == 'grid']
    kd = [r for r in rows if r.get('kind') in ('grid', 'stochastic')]
    m_g = {k: _median(grid, k) for k in KEYS}
    t = {k: (None if teacher is None else teacher.get(k)) for k in KEYS}
    out = dict(grid_size=grid_size, paper_grid_runs=PAPER_GRID_RUNS, n_grid_runs=len(grid),
               median_grid_run=m_g, teacher=t, samplers={},
               slow_runs=slow_runs(kd), slow_factor=SLOW_FACTOR, teacher_share=teacher_share)
    f = {k: _share_of(teacher_share, k) for k in KEYS}
    for q in samplers:
        st = [r for r in rows if r.get('kind') == 'stochastic' and r.get('sampler') == q]
        m_q = {k: _median(st, k) for k in KEYS}
        entry = dict(n_runs=len(st), median_run=m_q)
        for name, runs in (('grid', grid_size), ('paper_grid', PAPER_GRID_RUNS)):
            g_cost = {k: None if m_g[k] is None else runs * m_g[k] for k in KEYS}
            e2e_g = {k: None if g_cost[k] is None or t[k] is None else t[k] + g_cost[k]
                     for k in KEYS}
            e2e_q = {k: None if m_q[k] is None or t[k] is None else t[k] + m_q[k] for k in KEYS}
            entry[name] = dict(
                runs=runs, student_only=g_cost, student_only_ratio={
                    k: _div(g_cost[k], m_q[k]) for k in KEYS},
                end_to_end=e2e_g, end_to_end_one_run=e2e_q,
                end_to_end_ratio={k: _div(e2e_g[k], e2e_q[k]) for k in KEYS})
            if teacher_share:
                shared = {k: None if m_g[k] is None or f[k] is None
                          else m_g[k] * (runs - (runs - 1) * f[k]) for k in KEYS}
                e2e_s = {k: None if shared[k] is None or t[k] is None else t[k] + shared[k]
                         for k in KEYS}
                entry[name]['with_teacher_sharing'] = dict(
                    student_only=shared,
                    student_only_ratio={k: _div(shared[k], m_q[k]) for k in KEYS},
                    end_to_end=e2e_s,
                    end_to_end_ratio={k: _div(e2e_s[k], e2e_q[k]) for k in KEYS})
        out['samplers'][q] = entry
    return out


def cost_markdown(cost: dict, fmt=lambda v: '' if v is None else f'{v:.3g}') -> List[str]:
    """Markdown lines: the cost table of one arm and its slow-run flags."""
    lines = ['| cost (medians) | kWh | g CO2-eq | train FLOPs | seconds |',
             '|---|---|---|---|---|']

    def row(label, c):
        lines.append(f'| {label} | ' + ' | '.join(fmt(c.get(k)) for k in KEYS) + ' |')
    row('teacher (once)', cost['teacher'])
    row('one grid run (median)', cost['median_grid_run'])
    for q, e in cost['samplers'].items():
        row(f'one stochastic run, {q} (median)', e['median_run'])
        for name in ('grid', 'paper_grid'):
            g = e[name]
            what = (f'grid as run ({g["runs"]} runs)' if name == 'grid'
                    else f'paper grid ({g["runs"]} runs)')
            row(f'{what} / one {q} run, student only: ratio', g['student_only_ratio'])
            row(f'teacher + {what} / teacher + one {q} run, end to end: ratio',
                g['end_to_end_ratio'])
            if g.get('with_teacher_sharing'):
                sh = g['with_teacher_sharing']
                row(f'{what} with teacher-logit sharing (computed) / one {q} run, student only: '
                    f'ratio', sh['student_only_ratio'])
                row(f'teacher + {what} with sharing (computed) / teacher + one {q} run, end to '
                    f'end: ratio', sh['end_to_end_ratio'])
    lines.append('')
    ts = cost.get('teacher_share')
    if ts and ts.get('flop_share') is not None:
        time_part = ('' if ts.get('time_share') is None else
                     f' and {100 * ts["time_share"]:.1f} % of its time (median of '
                     f'{ts["repeats"]} timed repeats: teacher {1e3 * ts["teacher_forward_s"]:.0f} '
                     f'ms, student {1e3 * ts["student_step_s"]:.0f} ms)')
        lines.append(f'Teacher-logit sharing is computed, not run: on one batch of {ts["batch"]} '
                     f'the teacher forward is {100 * ts["flop_share"]:.1f} % of a KD training '
                     f'step\'s FLOPs (teacher {ts["teacher_forward_flops"]:.3g}, student forward '
                     f'+ backward {ts["student_step_flops"]:.3g}){time_part}. A grid of G runs '
                     f'that shares it costs G − (G − 1) × share runs: the FLOP share for FLOPs, '
                     f'the time share for seconds, energy and CO2 (an upper bound of the '
                     f'saving: start-up and evaluation are not shared). One stochastic run gains '
                     f'nothing from it.')
        lines.append('')
    if cost['slow_runs']:
        lines.append(f'Runs slower than {cost["slow_factor"]:g}× the median KD run (machine load; '
                     f'same compute): ' + ', '.join(f'{r["label"]} ({r["times_median"]:.2f}×)'
                                                   for r in cost['slow_runs']) + '.')
    else:
        lines.append(f'No run slower than {cost["slow_factor"]:g}× the median KD run.')
    return lines
