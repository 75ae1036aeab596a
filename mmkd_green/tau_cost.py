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

Slow runs: a KD run of the arm whose ``seconds`` exceed ``1.5 ×`` the median seconds of the
arm's KD runs is flagged (a load artifact: the compute is the same, so the time should be).
"""
from typing import Dict, List, Optional, Sequence

import numpy as np

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


def arm_cost(rows: List[dict], teacher: Optional[dict], grid_size: int,
             samplers: Sequence[str]) -> dict:
    """The module doc's numbers for one arm; ``rows`` its finished KD runs, ``teacher`` the
    teacher run (None: the study trains none, its cost is unknown and end-to-end is left out)."""
    grid = [r for r in rows if r.get('kind') == 'grid']
    kd = [r for r in rows if r.get('kind') in ('grid', 'stochastic')]
    m_g = {k: _median(grid, k) for k in KEYS}
    t = {k: (None if teacher is None else teacher.get(k)) for k in KEYS}
    out = dict(grid_size=grid_size, paper_grid_runs=PAPER_GRID_RUNS, n_grid_runs=len(grid),
               median_grid_run=m_g, teacher=t, samplers={},
               slow_runs=slow_runs(kd), slow_factor=SLOW_FACTOR)
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
    lines.append('')
    if cost['slow_runs']:
        lines.append(f'Runs slower than {cost["slow_factor"]:g}× the median KD run (machine load; '
                     f'same compute): ' + ', '.join(f'{r["label"]} ({r["times_median"]:.2f}×)'
                                                   for r in cost['slow_runs']) + '.')
    else:
        lines.append(f'No run slower than {cost["slow_factor"]:g}× the median KD run.')
    return lines
