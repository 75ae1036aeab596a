"""Detection τ study: fixed τ values vs the stochastic τ, several seeds, VOC07 mAP + energy.

    from mmkd_green.detection import tau_study
    summary = tau_study.run_study('results/det_tau_bccd', **tau_study.PROFILES['bccd'])

One *plan* (:func:`study_plan`) = a list of runs ``{'name', 'config', 'cfg_options', 'seed',
'setting'}``; the teacher is trained once (``teacher_config``, seed 0) and every KD run distils
from it. Each run trains in ``<out>/<name>/`` through :mod:`mmkd_green.apis` (epochs with
``apis.set_epochs``, data with ``apis.point_data_root``); a run whose carbon records end with a
``final`` line is not trained again (a rerun continues an interrupted study). The student is
validated on the test split at the end of training (the distiller validates the student alone),
so each run's mAP and energy come from its own carbon records (``load_run_totals``).

Outputs in ``<out>/``: ``study.json`` (every run + per-setting summary), ``study.csv`` (one row per
run), ``study.md`` (per setting: median mAP over seeds with min-max, median kWh/CO2/seconds; the
grid's summed energy vs one stochastic run), ``study.png`` (mAP vs τ per seed, stochastic as a
band; energy of the whole fixed-τ grid vs the stochastic run).

Interface for a generic τ-study tool: ``study_plan(...)`` gives the runs, ``train_run(run, out,
...)`` trains one, ``collect(plan, out)`` reads the results, ``write_outputs(rows, out)`` writes
them; ``run_study`` chains the four.
"""
import csv
import json
import os
import os.path as osp
import statistics
import time
from typing import Dict, List, Optional, Sequence

MAP_KEY = 'pascal_voc/mAP'
STOCHASTIC = 'stochastic'

#: ready-made studies (``tools/det_tau_study.py --profile NAME``)
PROFILES: Dict[str, dict] = {
    # issue 13: BCCD, toy-sized SSD teacher/student (128 px), 20 epochs, τ ∈ {1,2,4,8,16,20} vs
    # U[2, 20], 2 seeds: 1 teacher + 14 KD runs
    'bccd': dict(
        data_root=None,   # the configs' default: $MMKD_BCCD_ROOT or ../shared/data/BCCD/
        taus=(1, 2, 4, 8, 16, 20), seeds=(0, 1), epochs=None,
        teacher_config='configs/bccd/ssd_teacher_bccd.py',
        fixed_config='configs/bccd/ssd_kd_fixed_bccd.py',
        stochastic_config='configs/bccd/ssd_kd_stochastic_bccd.py'),
    # end-to-end check of the whole chain: 2 KD runs (τ = 4, stochastic) x 1 epoch, 16 images
    'smoke': dict(
        data_root=None, taus=(4, ), seeds=(0, ), epochs=1, subset=16,
        teacher_config='configs/bccd/ssd_teacher_bccd.py',
        fixed_config='configs/bccd/ssd_kd_fixed_bccd.py',
        stochastic_config='configs/bccd/ssd_kd_stochastic_bccd.py'),
}


def tau_name(tau: float) -> str:
    return f'tau{tau:g}'


def study_plan(taus: Sequence[float], seeds: Sequence[int], fixed_config: str,
               stochastic_config: str, **_) -> List[dict]:
    """Every KD run of the study: each fixed τ and the stochastic setting, for each seed."""
    plan = []
    for seed in seeds:
        for tau in taus:
            plan.append(dict(name=f'{tau_name(tau)}_seed{seed}', setting=tau_name(tau),
                             tau=float(tau), seed=int(seed), config=fixed_config,
                             cfg_options=[f'temperature.tau={float(tau)}']))
        plan.append(dict(name=f'{STOCHASTIC}_seed{seed}', setting=STOCHASTIC, tau=None,
                         seed=int(seed), config=stochastic_config, cfg_options=[]))
    return plan


def finished(run_dir: str) -> bool:
    from ..energy.report import load_run_totals
    try:
        return bool(load_run_totals(run_dir).get('finished'))
    except (FileNotFoundError, OSError, ValueError):
        return False


def _config(path: str, work_dir: str, cfg_options, seed: int, epochs: Optional[int],
            data_root: Optional[str], subset: Optional[int], quiet: bool):
    from .. import apis
    cfg = apis.load_config(path, work_dir=work_dir, cfg_options=list(cfg_options or []))
    cfg.randomness = dict(seed=int(seed))
    if epochs is not None:
        apis.set_epochs(cfg, epochs)
    cfg.train_cfg.val_interval = cfg.train_cfg.max_epochs      # mAP once, at the end
    if data_root is not None:
        apis.point_data_root(cfg, data_root)
    if subset is not None:   # the first `subset` images of every split (smoke runs)
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            cfg[key].dataset.indices = int(subset)
    if quiet:
        cfg.log_level = 'WARNING'
        cfg.custom_hooks = list(cfg.custom_hooks) + [
            dict(type='QuietConsoleHook'),
            dict(type='StageProgressHook', stage=osp.basename(work_dir))]
    return cfg


def train_teacher(out_dir: str, teacher_config: str, epochs=None, data_root=None, subset=None,
                  quiet=True, **_) -> str:
    """Train the study's teacher once (seed 0); returns its last checkpoint."""
    from .. import apis
    work_dir = osp.join(out_dir, 'teacher')
    cfg = _config(teacher_config, work_dir, [], 0, epochs, data_root, subset, quiet)
    ckpt = osp.join(work_dir, f'epoch_{cfg.train_cfg.max_epochs}.pth')
    if not (osp.isfile(ckpt) and finished(work_dir)):
        apis.train(cfg)
    return ckpt


def train_run(run: dict, out_dir: str, teacher_ckpt: str, epochs=None, data_root=None,
              subset=None, quiet=True, **_) -> str:
    """Train one planned KD run into ``<out_dir>/<name>`` (skipped when already finished)."""
    from .. import apis
    work_dir = osp.join(out_dir, run['name'])
    if finished(work_dir):
        return work_dir
    options = list(run['cfg_options']) + [f'model.teacher_ckpt={osp.abspath(teacher_ckpt)}']
    apis.train(_config(run['config'], work_dir, options, run['seed'], epochs, data_root, subset,
                       quiet))
    return work_dir


def collect(plan: List[dict], out_dir: str, metric_key: str = MAP_KEY) -> List[dict]:
    """One row per run: setting, τ, seed, mAP, energy, CO2, seconds, training FLOPs."""
    from ..energy.report import load_run_totals
    rows = []
    for run in plan:
        totals = load_run_totals(osp.join(out_dir, run['name']))
        rows.append(dict(run=run['name'], setting=run['setting'], tau=run['tau'],
                         seed=run['seed'], mAP=(totals.get('metric') or {}).get(metric_key),
                         energy_kwh=totals.get('energy_kwh'), co2_g=totals.get('co2_g'),
                         seconds=totals.get('seconds'), train_flops=totals.get('train_flops'),
                         epochs=totals.get('epochs'), finished=totals.get('finished')))
    return rows


def summarize(rows: List[dict]) -> dict:
    """Per setting: n, median/min/max mAP, median kWh, CO2, seconds; grid totals vs stochastic."""
    settings: Dict[str, dict] = {}
    for setting in dict.fromkeys(r['setting'] for r in rows):
        group = [r for r in rows if r['setting'] == setting]
        maps = [r['mAP'] for r in group if r['mAP'] is not None]

        def med(key):
            return statistics.median([r[key] for r in group if r[key] is not None] or [0.0])

        settings[setting] = dict(
            tau=group[0]['tau'], n=len(group),
            map_median=statistics.median(maps) if maps else None,
            map_min=min(maps) if maps else None, map_max=max(maps) if maps else None,
            kwh_median=med('energy_kwh'), co2_g_median=med('co2_g'),
            seconds_median=med('seconds'))
    fixed = {k: v for k, v in settings.items() if k != STOCHASTIC}
    out = dict(settings=settings)
    if fixed and STOCHASTIC in settings:
        best = max(fixed, key=lambda k: fixed[k]['map_median'] or -1.0)
        grid_kwh = sum(v['kwh_median'] for v in fixed.values())
        out.update(best_fixed=best, best_fixed_map=fixed[best]['map_median'],
                   stochastic_map=settings[STOCHASTIC]['map_median'], grid_kwh=grid_kwh,
                   stochastic_kwh=settings[STOCHASTIC]['kwh_median'],
                   grid_over_stochastic_energy=grid_kwh / settings[STOCHASTIC]['kwh_median']
                   if settings[STOCHASTIC]['kwh_median'] else None)
    return out


def _fmt(v, spec='{:.3f}'):
    return '-' if v is None else spec.format(v)


def table_markdown(summary: dict) -> str:
    lines = ['| setting | runs | VOC07 mAP median (min–max) | kWh median | g CO2 median | '
             's median |', '|---|---|---|---|---|---|']
    for name, s in summary['settings'].items():
        label = 'τ ~ U[2, 20]' if name == STOCHASTIC else f'τ = {s["tau"]:g}'
        lines.append(f'| {label} | {s["n"]} | {_fmt(s["map_median"])} ({_fmt(s["map_min"])}–'
                     f'{_fmt(s["map_max"])}) | {_fmt(s["kwh_median"], "{:.2e}")} | '
                     f'{_fmt(s["co2_g_median"])} | {_fmt(s["seconds_median"], "{:.0f}")} |')
    if 'grid_kwh' in summary:
        lines.append('')
        lines.append(f'Best fixed τ: {summary["best_fixed"]} '
                     f'(mAP {_fmt(summary["best_fixed_map"])}); stochastic mAP {_fmt(summary["stochastic_map"])}. Energy of the fixed-τ '
                     f'grid (one run per τ, medians summed) / one stochastic run = '
                     f'{_fmt(summary["grid_over_stochastic_energy"], "{:.1f}")}x.')
    return '\n'.join(lines) + '\n'


def plot(rows: List[dict], summary: dict, path: str) -> str:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 3.8))
    fixed = [r for r in rows if r['setting'] != STOCHASTIC and r['mAP'] is not None]
    for seed in sorted({r['seed'] for r in fixed}):
        pts = sorted((r['tau'], r['mAP']) for r in fixed if r['seed'] == seed)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker='o', label=f'fixed τ, seed {seed}')
    sto = [r['mAP'] for r in rows if r['setting'] == STOCHASTIC and r['mAP'] is not None]
    if sto:
        ax.axhspan(min(sto), max(sto) + 1e-4, color='tab:green', alpha=0.25,
                   label='τ ~ U[2, 20] (seeds min–max)')
        ax.axhline(statistics.median(sto), color='tab:green')
    ax.set_xscale('log', base=2)
    ax.set_xlabel('fixed τ')
    ax.set_ylabel('VOC07 11-point mAP')
    ax.legend(fontsize=7)
    names = [n for n in summary['settings'] if n != STOCHASTIC]
    kwh = [summary['settings'][n]['kwh_median'] for n in names]
    bottom = 0.0
    for n, k in zip(names, kwh):
        bx.bar(0, k, bottom=bottom, label=n, edgecolor='white')
        bottom += k
    if STOCHASTIC in summary['settings']:
        bx.bar(1, summary['settings'][STOCHASTIC]['kwh_median'], color='tab:green')
    bx.set_xticks([0, 1], ['fixed-τ grid\n(one run per τ)', 'one stochastic run'])
    bx.set_ylabel('energy [kWh, with PUE], median over seeds')
    bx.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_outputs(rows: List[dict], out_dir: str, extra: Optional[dict] = None) -> dict:
    """``study.{json,csv,md,png}`` in ``out_dir``; returns the summary with the file paths."""
    os.makedirs(out_dir, exist_ok=True)
    summary = summarize(rows)
    files = {ext: osp.join(out_dir, f'study.{ext}') for ext in ('json', 'csv', 'md', 'png')}
    with open(files['csv'], 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with open(files['md'], 'w') as f:
        f.write(table_markdown(summary))
    plot(rows, summary, files['png'])
    summary.update(files=files, **(extra or {}))
    tmp = files['json'] + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(dict(summary=summary, runs=rows), f, indent=1)
    os.replace(tmp, files['json'])
    return summary


def run_study(out_dir: str, taus: Sequence[float], seeds: Sequence[int], teacher_config: str,
              fixed_config: str, stochastic_config: str, epochs: Optional[int] = None,
              data_root: Optional[str] = None, subset: Optional[int] = None,
              quiet: bool = True) -> dict:
    """Teacher once, then every planned KD run, then the outputs (module docstring)."""
    t0 = time.time()
    common = dict(epochs=epochs, data_root=data_root, subset=subset, quiet=quiet)
    teacher_ckpt = train_teacher(out_dir, teacher_config, **common)
    plan = study_plan(taus, seeds, fixed_config, stochastic_config)
    for i, run in enumerate(plan, 1):
        if quiet:
            print(f'[study] {i}/{len(plan)} {run["name"]}', flush=True)
        train_run(run, out_dir, teacher_ckpt, **common)
    rows = collect(plan, out_dir)
    return write_outputs(rows, out_dir, extra=dict(
        wall_seconds=time.time() - t0, taus=list(taus), seeds=list(seeds), epochs=epochs,
        subset=subset, teacher=collect([dict(name='teacher', setting='teacher', tau=None,
                                             seed=0)], out_dir)[0]))
