"""The fixed-τ grid search that stochastic τ replaces (Rafat et al. 2023), run and costed.

For every τ in the grid the fixed-τ config is trained in ``<out>/tau_<τ>/`` with
``--cfg-options temperature.tau=τ``; a finished τ leaves ``tau_result.json`` and is skipped on a
rerun (a crashed τ resumes from its last checkpoint). The best τ maximises (or minimises) the
final validation metric. Costs come from the energy meter (``load_run_totals``). The table::

    grid total   = Σ_τ cost(τ)                       (energy kWh, g CO2, seconds, train FLOPs)
    ratio        = grid total / cost(stochastic run)

is written as ``tau_grid.md``, ``tau_grid.csv`` and ``tau_grid.json`` in ``<out>``.
"""
import csv
import json
import os
import os.path as osp
import subprocess
import sys
import time
from typing import Iterable, List, Optional, Sequence

from mmengine.config import Config

RESULT_FILE = 'tau_result.json'
COST_KEYS = ('energy_kwh', 'energy_kwh_it', 'co2_g', 'seconds', 'train_flops')
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def tau_name(tau: float) -> str:
    """Folder name of a τ: ``tau_4``, ``tau_2.5``."""
    return f'tau_{float(tau):g}'


def check_fixed_tau_config(config: str) -> Config:
    cfg = Config.fromfile(config)
    temp = cfg.get('temperature')
    if not temp or temp.get('type') != 'ConstantTemperature':
        raise ValueError(
            f'{config}: the τ grid needs a fixed-τ config, i.e. top-level `temperature = '
            f'dict(type="ConstantTemperature", tau=...)` (the *_fixed_*.py configs); got '
            f'{dict(temp) if temp else None}')
    if not any(h.get('type') == 'CarbonFootprintHook' for h in cfg.get('custom_hooks', [])):
        raise ValueError(f'{config}: add dict(type="CarbonFootprintHook") to `custom_hooks`; the '
                         'grid table needs every run metered')
    return cfg


def pick_metric(metric: Optional[dict], key: str):
    """``metric[key]``, or the only entry whose name ends with ``/key``."""
    if not metric:
        return None
    if key in metric:
        return metric[key]
    hits = [k for k in metric if k.endswith('/' + key)]
    if len(hits) == 1:
        return metric[hits[0]]
    raise KeyError(f'metric {key!r} not among the run\'s validation metrics {sorted(metric)}; '
                   f'pass --metric with one of them')


def _train(config: str, work_dir: str, cfg_options: Sequence[str], in_process: bool) -> None:
    resume = osp.isfile(osp.join(work_dir, 'last_checkpoint'))
    argv = [config, '--work-dir', work_dir] + (['--resume'] if resume else [])
    if cfg_options:
        argv += ['--cfg-options', *cfg_options]
    if in_process:
        from mmkd_green import apis
        cfg = apis.load_config(config, work_dir=work_dir, cfg_options=cfg_options,
                               resume=resume or None)
        cfg.experiment_name = f'{osp.basename(work_dir)}_{time.strftime("%Y%m%d_%H%M%S")}_' \
                              f'{os.getpid()}_{time.monotonic_ns()}'
        apis.train(cfg)
        from mmengine.registry import DefaultScope
        DefaultScope._instance_dict.clear()
        return
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), *argv]
    log = osp.join(work_dir, 'train_stdout.log')
    os.makedirs(work_dir, exist_ok=True)
    with open(log, 'a') as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=os.getcwd())
    if proc.returncode != 0:
        raise RuntimeError(f'training failed (exit {proc.returncode}): {" ".join(cmd)}; see {log}')


def run_once(config: str, work_dir: str, cfg_options: Sequence[str], metric_key: str,
             in_process: bool = False, label: Optional[str] = None) -> dict:
    """Train (unless ``work_dir`` has a result); record metric + cost in ``tau_result.json``."""
    from mmkd_green.energy.report import load_run_totals
    result_path = osp.join(work_dir, RESULT_FILE)
    if osp.isfile(result_path):
        with open(result_path) as f:
            out = json.load(f)
        out['skipped'] = True
        return out
    _train(config, work_dir, cfg_options, in_process)
    totals = load_run_totals(work_dir)
    if not totals.get('finished'):
        raise RuntimeError(f'{work_dir}: the run did not finish (no final carbon record)')
    out = dict(label=label, config=osp.relpath(config), work_dir=work_dir,
               cfg_options=list(cfg_options), metric_key=metric_key,
               metric=pick_metric(totals.get('metric'), metric_key),
               all_metrics=totals.get('metric'), epochs=totals.get('epochs'),
               **{k: totals.get(k) for k in COST_KEYS})
    tmp = result_path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(out, f, indent=2)
    os.replace(tmp, result_path)
    out['skipped'] = False
    return out


def _sum(rows: Iterable[dict], key: str):
    vals = [r.get(key) for r in rows]
    return None if any(v is None for v in vals) else sum(vals)


def _ratio(a, b):
    return None if a is None or not b else a / b


def _fmt(v, spec='.4g'):
    return '' if v is None else (format(v, spec) if isinstance(v, (int, float)) else str(v))


def summarize(grid: List[dict], stochastic: Optional[dict], metric_key: str,
              mode: str = 'max') -> dict:
    scored = [r for r in grid if r.get('metric') is not None]
    best = (max if mode == 'max' else min)(scored, key=lambda r: r['metric']) if scored else None
    total = {k: _sum(grid, k) for k in COST_KEYS}
    out = dict(metric_key=metric_key, mode=mode, grid=grid, best_tau=best and best['tau'],
               best_metric=best and best['metric'], grid_total=total, runs=len(grid),
               stochastic=stochastic)
    if stochastic is not None:
        out['ratio'] = {k: _ratio(total[k], stochastic.get(k)) for k in COST_KEYS}
        out['metric_gap'] = (None if best is None or stochastic.get('metric') is None
                             else stochastic['metric'] - best['metric'])
    return out


def write_tables(summary: dict, out_dir: str) -> dict:
    """``tau_grid.{md,csv,json}``; returns their paths."""
    key = summary['metric_key']
    header = ['run', key, 'energy kWh', 'energy kWh (IT)', 'g CO2-eq', 'seconds', 'train FLOPs']
    rows = []
    for r in summary['grid']:
        mark = ' (best)' if r['tau'] == summary['best_tau'] else ''
        rows.append([f'τ = {r["tau"]:g}{mark}', r['metric'], r['energy_kwh'], r['energy_kwh_it'],
                     r['co2_g'], r['seconds'], r['train_flops']])
    t = summary['grid_total']
    rows.append([f'grid total ({summary["runs"]} runs)', summary['best_metric'], t['energy_kwh'],
                 t['energy_kwh_it'], t['co2_g'], t['seconds'], t['train_flops']])
    s = summary.get('stochastic')
    if s is not None:
        rows.append([f'stochastic ({s.get("label") or "run"})', s.get('metric'),
                     s.get('energy_kwh'), s.get('energy_kwh_it'), s.get('co2_g'),
                     s.get('seconds'), s.get('train_flops')])
        r = summary['ratio']
        rows.append(['ratio grid / stochastic', summary.get('metric_gap'), r['energy_kwh'],
                     r['energy_kwh_it'], r['co2_g'], r['seconds'], r['train_flops']])
    paths = {ext: osp.join(out_dir, f'tau_grid.{ext}') for ext in ('md', 'csv', 'json')}
    with open(paths['md'], 'w') as f:
        f.write('| ' + ' | '.join(header) + ' |\n|' + '---|' * len(header) + '\n')
        for row in rows:
            f.write('| ' + ' | '.join([row[0]] + [_fmt(v) for v in row[1:]]) + ' |\n')
        if s is not None:
            f.write(f'\nLast row, {key} column: stochastic minus best grid value.\n')
    with open(paths['csv'], 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    with open(paths['json'], 'w') as f:
        json.dump(summary, f, indent=2)
    return paths


def run_grid(config: str, taus: Sequence[float], out_dir: str, metric_key: str = 'accuracy',
             mode: str = 'max', cfg_options: Sequence[str] = (),
             stochastic_dir: Optional[str] = None, stochastic_config: Optional[str] = None,
             in_process: bool = False, progress: bool = True) -> dict:
    """Train every τ (skipping finished ones), then the optional stochastic run; write tables."""
    from tqdm import tqdm
    if mode not in ('max', 'min'):
        raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
    if not taus:
        raise ValueError('give at least one τ (--taus 1 2 ... 20)')
    if any(not (t > 0) for t in taus):
        raise ValueError(f'every τ must be > 0, got {list(taus)}')
    if stochastic_dir and stochastic_config:
        raise ValueError('give --stochastic RUN_DIR or --stochastic-config CFG, not both')
    check_fixed_tau_config(config)
    os.makedirs(out_dir, exist_ok=True)
    grid = []
    bar = tqdm(list(taus), desc='τ grid', unit='run', disable=not progress)
    for tau in bar:
        bar.set_postfix_str(f'τ={tau:g}')
        row = run_once(config, osp.join(out_dir, tau_name(tau)),
                       list(cfg_options) + [f'temperature.tau={float(tau)!r}'], metric_key,
                       in_process, label=tau_name(tau))
        row['tau'] = float(tau)
        grid.append(row)
        bar.set_postfix_str(f'τ={tau:g} {metric_key}={_fmt(row["metric"])}'
                            + (' (done before)' if row['skipped'] else ''))
    bar.close()
    stochastic = None
    if stochastic_config:
        stochastic = run_once(stochastic_config, osp.join(out_dir, 'stochastic'), cfg_options,
                              metric_key, in_process, label=osp.basename(stochastic_config))
    elif stochastic_dir:
        from mmkd_green.energy.report import load_run_totals
        totals = load_run_totals(stochastic_dir)
        stochastic = dict(label=osp.basename(osp.normpath(stochastic_dir)), work_dir=stochastic_dir,
                          metric=pick_metric(totals.get('metric'), metric_key),
                          **{k: totals.get(k) for k in COST_KEYS})
    summary = summarize(grid, stochastic, metric_key, mode)
    summary['tables'] = write_tables(summary, out_dir)
    return summary
