"""The cost of a whole τ grid predicted from its first run(s), against one stochastic-τ run.

    per_run     = mean cost of the runs known so far (a finished run: its measured total; an
                  unfinished one, e.g. a short probe stopped by a budget: its predicted total)
    grid total  = Σ known runs + (planned_runs - known runs) x per_run
    stochastic  = the stochastic run's cost (measured, or predicted while unfinished); without one,
                  per_run (same schedule and model: sampling τ costs no measurable energy)
    ratio       = grid total / stochastic

for ``energy_kwh`` (after PUE), ``energy_kwh_it``, ``co2_g`` and ``seconds``. The τ grid tool calls
:func:`forecast_grid` after its first run (or a probe) and :func:`grid_budget_verdict` with
``--max-grid-kwh`` to refuse to go on.
"""
import json
import os.path as osp
from typing import List, Optional, Sequence

from .report import CARBON_DIR, SUMMARY_NAME, aggregate, load_run_records

COST_KEYS = ('energy_kwh', 'energy_kwh_it', 'co2_g', 'seconds')


def _from_records(records: List[dict]) -> Optional[dict]:
    totals = aggregate(records)
    starts = [r for r in records if r.get('type') == 'start']
    last = starts[-1].get('session') if starts else None
    stopped = any(r.get('type') == 'budget_stop' and r.get('session') == last for r in records)
    if totals['finished'] and not stopped:
        return dict(source='measured', **{k: totals[k] for k in COST_KEYS})
    forecasts = [r for r in records if r.get('type') == 'predicted']
    forecasts += [r['forecast'] for r in records
                  if r.get('type') == 'budget_stop' and r.get('forecast')]
    if not forecasts:
        return None
    f = forecasts[-1]
    cost = {k: f.get(k) for k in COST_KEYS}
    if cost['energy_kwh_it'] is None and f.get('pue'):
        cost['energy_kwh_it'] = cost['energy_kwh'] / f['pue']
    return dict(source='predicted', **cost)


def run_cost(run: str) -> Optional[dict]:
    """A run's whole cost: measured if it finished its plan, else its latest prediction (from a
    ``predicted`` line or a budget stop's forecast), else ``None`` (nothing to go on yet).

    ``run``: a run folder (``<run>/carbon/carbon.jsonl``, the source of truth) or a
    ``summary.json`` (its ``totals`` and ``prediction``).
    """
    if run.endswith('.json'):
        with open(run) as f:
            summary = json.load(f)
        pred = summary.get('prediction') or {}
        totals = summary['totals']
        if totals.get('finished') and (not pred or pred.get('complete', True)):
            return dict(source='measured', **{k: totals.get(k) for k in COST_KEYS})
        items = pred.get('predictions') or []
        if not items:
            return None
        return dict(source='predicted', **{k: items[-1].get(k) for k in COST_KEYS})
    try:
        records = load_run_records(run)
    except FileNotFoundError:
        summary = osp.join(run, CARBON_DIR, SUMMARY_NAME)
        if osp.isfile(summary):
            return run_cost(summary)
        raise
    return _from_records(records)


def _sum(values):
    values = list(values)
    return None if any(v is None for v in values) else sum(values)


def forecast_grid(runs: Sequence[str], planned_runs: int,
                  stochastic_run: Optional[str] = None) -> dict:
    """Predicted cost of a grid of ``planned_runs`` runs vs one stochastic-τ run.

    Args:
        runs: the grid's runs so far (folders or ``summary.json`` paths); at least one must have
            a measured or predicted cost.
        planned_runs: runs in the whole grid (e.g. 20 τ values), >= len(runs).
        stochastic_run: the stochastic-τ run, if any (else one stochastic run = ``per_run``).

    Returns a dict: ``planned_runs``, ``known`` (each run's ``run``, ``source``, costs),
    ``per_run``, ``grid`` and ``stochastic`` (costs: ``energy_kwh``, ``energy_kwh_it``,
    ``co2_g``, ``seconds``), ``ratio`` (grid / stochastic per key), ``method`` (text).
    """
    if isinstance(planned_runs, bool) or not isinstance(planned_runs, int) or planned_runs < 1:
        raise ValueError(f'`planned_runs` must be an int >= 1, got {planned_runs!r}')
    if len(runs) > planned_runs:
        raise ValueError(f'{len(runs)} runs given but only {planned_runs} planned; pass the '
                         f'grid size (e.g. the number of τ values) as `planned_runs`')
    known = []
    for run in runs:
        cost = run_cost(run)
        if cost is not None:
            known.append(dict(run=run, **cost))
    if not known:
        raise ValueError(f'none of {list(runs)} has a measured or predicted cost yet: finish a '
                         f'run, or train one epoch with CarbonFootprintHook (its `predicted` line)')
    per_run = {}
    for key in COST_KEYS:
        values = [k[key] for k in known]
        per_run[key] = None if any(v is None for v in values) else sum(values) / len(values)
    missing = planned_runs - len(known)
    grid = {k: None if per_run[k] is None else _sum(r[k] for r in known) + missing * per_run[k]
            for k in COST_KEYS}
    if stochastic_run is not None:
        stoch = run_cost(stochastic_run)
        if stoch is None:
            raise ValueError(f'{stochastic_run}: no measured or predicted cost yet')
        stoch = dict(run=stochastic_run, **stoch)
    else:
        stoch = dict(run=None, source='assumed = per grid run', **per_run)
    ratio = {k: (grid[k] / stoch[k]) if grid[k] is not None and stoch.get(k) else None
             for k in COST_KEYS}
    n_meas = sum(k['source'] == 'measured' for k in known)
    method = (f'{len(known)} known run(s) ({n_meas} measured, {len(known) - n_meas} predicted) '
              f'+ {missing} x their mean; stochastic: {stoch["source"]}')
    return dict(planned_runs=planned_runs, known=known, per_run=per_run, grid=grid,
                stochastic=stoch, ratio=ratio, method=method)


def grid_budget_verdict(forecast: dict, max_grid_kwh: Optional[float]) -> Optional[str]:
    """The reason to refuse (or stop) the grid, or ``None`` when it fits ``max_grid_kwh``."""
    if max_grid_kwh is None:
        return None
    if isinstance(max_grid_kwh, bool) or not isinstance(max_grid_kwh, (int, float)) \
            or not max_grid_kwh > 0:
        raise ValueError(f'--max-grid-kwh must be a number > 0, got {max_grid_kwh!r}')
    total = forecast['grid']['energy_kwh']
    if total is not None and total > max_grid_kwh:
        stoch = forecast['stochastic'].get('energy_kwh')
        extra = f'; one stochastic-τ run: {stoch:.4g} kWh' if stoch else ''
        return (f'the {forecast["planned_runs"]}-run grid is predicted to use {total:.4g} kWh '
                f'(with PUE), over --max-grid-kwh {max_grid_kwh:g} ({forecast["method"]}){extra}')
    return None


def format_grid_forecast(forecast: dict) -> str:
    """One paragraph for the tool's output."""
    g, s, r = forecast['grid'], forecast['stochastic'], forecast['ratio']

    def fmt(v, spec='.4g'):
        return 'n/a' if v is None else format(v, spec)
    return (f'predicted cost of the {forecast["planned_runs"]}-run τ grid: {fmt(g["energy_kwh"])} '
            f'kWh, {fmt(g["co2_g"])} g CO2, {fmt(g["seconds"] and g["seconds"] / 3600, ".3g")} h; '
            f'one stochastic-τ run: {fmt(s.get("energy_kwh"))} kWh, {fmt(s.get("co2_g"))} g CO2 '
            f'(grid / stochastic: {fmt(r["energy_kwh"], ".3g")}x); {forecast["method"]}')
