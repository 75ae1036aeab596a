"""The τ study: the paper's fixed-τ grid against stochastic τ, with an honest protocol and costs.

One tool for classification and detection (``tools/tune_temperature.py``). A study is a config
file (``configs/tau_study/*.py``) naming a teacher config, one KD config per loss arm, the τ grid,
the stochastic samplers, the seeds and the metric (``accuracy`` for classification, ``mAP`` for
mmdet's VOC metric). For every seed ``s`` and loss arm it trains one run per grid τ
(``ConstantTemperature(τ)``) and one per stochastic sampler, all from the same teacher (trained
once) and, for a given seed, the same student initialisation, batch order and augmented batches.
Protocol:

* τ is chosen on a validation split that is not the test split: ``holdout`` carves a fixed,
  class-stratified fraction out of the *training* data (the CIFAR readers); without it the KD
  config's own validation split is used (BCCD: ``val.txt``, training on ``train.txt``). A study
  whose validation split is its test split is refused. Per seed,
  ``τ*_s = argmax_τ val(τ, s)`` (ties: the smaller τ); its test score is what a user of the
  grid would get.
* The stochastic runs use no validation choice.
* Reported: per τ mean ± std over seeds (validation and test); the selected τ per seed and its
  test score; each stochastic sampler's test score; the paired difference
  ``d_s = test(stochastic, s) − test(τ*_s, s)`` with a 95 % t-interval over seeds
  ``mean(d) ± t_{0.975, n−1} · sd(d) / √n``; the cost (energy kWh, g CO2, train FLOPs, seconds) of
  the grid actually run and of the paper's 20-run grid (measured mean per grid run × 20) against
  one stochastic run, and their ratio. The teacher's cost is a separate line (both arms need it).

Runs are cached by a key, the SHA-1 of their fully resolved config (work dir excluded): a run
whose folder holds ``study_result.json`` with the same key is not trained again; a folder
without one (a crash, a kill -9) is moved aside (``<run>.crashed-N``, logs kept) and the run is
redone; a failed run is never counted. Each run trains in a child process (``spawn``): a crash
cannot take the study down.
"""
import copy
import csv
import hashlib
import json
import math
import multiprocessing
import os
import os.path as osp
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.config import Config

from mmkd_green import apis
from mmkd_green.energy.records import to_jsonable, write_json_atomic

RESULT_FILE = 'study_result.json'
COST_KEYS = ('energy_kwh', 'energy_kwh_it', 'co2_g', 'seconds', 'train_flops')
PAPER_GRID_RUNS = 20
TABLE_COST_KEYS = ('energy_kwh', 'co2_g', 'train_flops', 'seconds')
# two-sided 95 % Student t quantiles t_{0.975, df}, df = 1 .. 30
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
        2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
        2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
VOLATILE_KEYS = ('work_dir', 'experiment_name', 'launcher')


@dataclass
class RunSpec:
    """One training run of a study."""
    label: str
    kind: str                      # 'teacher' | 'grid' | 'stochastic'
    cfg: Config
    arm: Optional[str] = None      # loss arm name
    tau: Optional[float] = None    # grid τ
    sampler: Optional[str] = None  # stochastic sampler name
    seed: Optional[int] = None
    key: str = ''
    work_dir: str = ''


def config_key(cfg: Config) -> str:
    """SHA-1 of the resolved config minus the fields that name where/how it runs."""
    d = copy.deepcopy(cfg.to_dict())
    for k in VOLATILE_KEYS:
        d.pop(k, None)
    text = json.dumps(to_jsonable(d), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()


def _rel(study_path: str, path: str) -> str:
    return path if osp.isabs(path) else osp.normpath(osp.join(osp.dirname(study_path), path))


def load_study(path: str, overrides: Optional[dict] = None) -> Config:
    """The study config (see ``configs/tau_study/``), with keys of ``overrides`` replaced."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'study config not found: {path}')
    study = Config.fromfile(path)
    if 'model' in study:   # a KD config: the grid of its own loss, with its own teacher
        study = study_from_kd_config(path, study)
    overrides = dict(overrides or {})
    extra_options = overrides.pop('cfg_options', None)
    for k, v in overrides.items():
        if v is not None:
            study[k] = v
    if extra_options:   # `--cfg-options`: on top of the study's options, for every run
        study.common_cfg_options = dict(study.get('common_cfg_options') or {}, **extra_options)
    for key in ('teacher', 'arms', 'taus', 'stochastic', 'seeds'):
        if key not in study:
            raise KeyError(f'{path}: a study config needs `{key}` (see configs/tau_study/cpu.py)')
    taus = [float(t) for t in study.taus]
    if any(not (t > 0 and math.isfinite(t)) for t in taus) or len(set(taus)) != len(taus):
        raise ValueError(f'{path}: grid τ values must be distinct, finite and > 0, got {taus}')
    if not study.seeds:
        raise ValueError(f'{path}: give at least one seed')
    study.study_path = path
    return study


def study_from_kd_config(path: str, cfg: Config) -> Config:
    """A study of one KD config: grid τ = 1..20 and stochastic U[2, 20] for seed 0, with the
    config's own teacher checkpoint; τ is chosen on 10 % of the training data for the CIFAR
    readers (``holdout``), else on the config's validation split, which must not be its test
    split (:func:`check_selection_split`)."""
    ds_type = cfg.train_dataloader.dataset.get('type', '')
    evaluator = cfg.get('val_evaluator') or {}
    evaluator = evaluator[0] if isinstance(evaluator, (list, tuple)) else evaluator
    metric = 'mAP' if 'VOC' in str(evaluator.get('type', '')) else 'accuracy'
    return Config(dict(
        teacher=None, arms={osp.splitext(osp.basename(path))[0]: dict(config=osp.basename(path))},
        taus=[float(t) for t in range(1, 21)], seeds=[0], metric=metric,
        stochastic=dict(uniform=dict(type='UniformTemperature', low=2.0, high=20.0)),
        holdout=dict(fraction=0.1, seed=0) if str(ds_type).startswith('CIFAR') else None))


def _run_config(study: Config, part: dict, seed: int, work_dir: str,
                extra: Optional[dict] = None) -> Config:
    # deep copies: the study's option values (lists of dicts) must not be shared between runs
    cfg = apis.load_config(_rel(study.study_path, part['config']), work_dir=work_dir,
                           cfg_options=copy.deepcopy(dict(study.get('common_cfg_options', {})
                                                          or {})))
    if part.get('cfg_options'):
        cfg.merge_from_dict(copy.deepcopy(dict(part['cfg_options'])))
    if extra:
        cfg.merge_from_dict(copy.deepcopy(extra))
    if part.get('epochs'):
        apis.set_epochs(cfg, int(part['epochs']))
    if study.get('data_root'):
        apis.point_data_root(cfg, study.data_root)
    holdout = study.get('holdout')
    if holdout:
        train = dict(fraction=holdout['fraction'], seed=holdout.get('seed', 0), part='train')
        cfg.train_dataloader.dataset.holdout = train
        cfg.val_dataloader = copy.deepcopy(cfg.train_dataloader)
        cfg.val_dataloader.dataset.holdout = dict(train, part='holdout')
        cfg.val_dataloader.dataset.pipeline = copy.deepcopy(cfg.test_dataloader.dataset.pipeline)
        cfg.val_dataloader.sampler = dict(type='DefaultSampler', shuffle=False)
        cfg.val_dataloader.batch_size = cfg.test_dataloader.batch_size
    cfg.randomness = dict(seed=int(seed), deterministic=False)
    cfg.default_hooks.checkpoint.max_keep_ckpts = 1
    return cfg


def check_selection_split(cfg: Config, what: str) -> None:
    """Refuse a run whose validation split (where τ is chosen) is its test split."""
    val, test = cfg.get('val_dataloader'), cfg.get('test_dataloader')
    if val is None or test is None:
        raise ValueError(f'{what}: the τ study needs a val_dataloader (τ is chosen on it) and a '
                         f'test_dataloader (the reported score)')
    if val.dataset.to_dict() == test.dataset.to_dict():
        raise ValueError(
            f'{what}: the validation split that picks τ is the test split, so the chosen τ would '
            f'be scored on the data that chose it. Give the study a `holdout=dict(fraction=0.1)` '
            f'(CIFAR readers) or point the validation split elsewhere, e.g. --cfg-options '
            f'val_dataloader.dataset.ann_file=ImageSets/Main/val.txt '
            f'train_dataloader.dataset.ann_file=ImageSets/Main/train.txt')


def _work_dir(out_dir: str, label: str, key: str) -> str:
    return osp.join(out_dir, 'runs', f'{label}-{key[:10]}')


def plan(study: Config, out_dir: str) -> List[RunSpec]:
    """Every run of the study in training order (teacher first), each with its key and folder."""
    specs, teacher = [], None
    if study.get('teacher'):
        t_part = dict(study.teacher)
        t_cfg = _run_config(study, t_part, t_part.get('seed', 0), '')
        teacher = RunSpec('teacher', 'teacher', t_cfg, seed=t_part.get('seed', 0))
        teacher.key = config_key(t_cfg)
        teacher.work_dir = t_cfg.work_dir = _work_dir(out_dir, 'teacher', teacher.key)
        specs.append(teacher)
        t_epochs = int(t_cfg.train_cfg.max_epochs)
        teacher_ckpt = osp.join(teacher.work_dir, f'epoch_{t_epochs}.pth')
    for seed in study.seeds:
        for arm, part in study.arms.items():
            runs = [(f'{arm}_tau{float(t):g}_s{seed}', 'grid', float(t), None,
                     dict(type='ConstantTemperature', tau=float(t))) for t in study.taus]
            runs += [(f'{arm}_{name}_s{seed}', 'stochastic', None, name, dict(sampler))
                     for name, sampler in study.stochastic.items()]
            for label, kind, tau, sname, temperature in runs:
                # the key names the teacher by its own key, not by where it was trained
                extra = teacher and {'model.teacher_ckpt': f'teacher run {teacher.key}'}
                cfg = _run_config(study, dict(part), seed, '', extra=extra)
                cfg.temperature = temperature
                check_selection_split(cfg, label)
                spec = RunSpec(label, kind, cfg, arm=arm, tau=tau, sampler=sname, seed=int(seed))
                spec.key = config_key(cfg)
                if teacher is not None:
                    cfg.model.teacher_ckpt = teacher_ckpt
                spec.work_dir = cfg.work_dir = _work_dir(out_dir, label, spec.key)
                specs.append(spec)
    return specs


def load_result(spec: RunSpec) -> Optional[dict]:
    path = osp.join(spec.work_dir, RESULT_FILE)
    if not osp.isfile(path):
        return None
    try:
        with open(path) as f:
            res = json.load(f)
    except (OSError, ValueError):
        return None
    return res if res.get('key') == spec.key and res.get('finished') else None


def _set_aside(work_dir: str) -> Optional[str]:
    """Move an unfinished run's folder aside (its logs stay) so the run starts clean."""
    if not osp.isdir(work_dir):
        return None
    n = 1
    while osp.exists(f'{work_dir}.crashed-{n}'):
        n += 1
    os.replace(work_dir, f'{work_dir}.crashed-{n}')
    return f'{work_dir}.crashed-{n}'


def _evaluate(runner, dataloader_cfg, evaluator_cfg) -> dict:
    """The model on a split, without the runner's hooks (so the meter's records stay the run's
    training and validation)."""
    import torch
    loader = runner.build_dataloader(dataloader_cfg)
    evaluator = runner.build_evaluator(evaluator_cfg)
    evaluator.dataset_meta = getattr(loader.dataset, 'metainfo', None)
    model = runner.model
    model.eval()
    with torch.no_grad():
        for batch in loader:
            outputs = model.test_step(batch)
            evaluator.process(data_samples=outputs, data_batch=batch)
    return evaluator.evaluate(len(loader.dataset))


def _metric(metrics: Optional[dict], key: str):
    if not metrics:
        return None
    if key in metrics:
        return metrics[key]
    hits = [k for k in metrics if k.endswith('/' + key)]
    if len(hits) != 1:
        raise KeyError(f'metric {key!r} not among {sorted(metrics)}')
    return metrics[hits[0]]


def train_and_score(spec: RunSpec, metric: str) -> dict:
    """Train one run, score it on the test split, write ``study_result.json`` (atomic)."""
    from mmkd_green.energy.report import load_run_totals
    t0 = time.monotonic()
    runner = apis.train(spec.cfg)
    test = _evaluate(runner, spec.cfg.test_dataloader, spec.cfg.test_evaluator)
    totals = load_run_totals(spec.work_dir)
    if not totals.get('finished'):
        raise RuntimeError(f'{spec.work_dir}: the run has no final carbon record')
    res = dict(key=spec.key, label=spec.label, kind=spec.kind, arm=spec.arm, tau=spec.tau,
               sampler=spec.sampler, seed=spec.seed, finished=True,
               val=totals.get('metric'), test=test, val_metric=_metric(totals.get('metric'),
                                                                     metric),
               test_metric=_metric(test, metric), epochs=totals.get('epochs'),
               wall_s=time.monotonic() - t0, temperature=spec.cfg.get('temperature'),
               **{k: totals.get(k) for k in COST_KEYS})
    write_json_atomic(osp.join(spec.work_dir, RESULT_FILE), res)
    return res


def _die_with_parent() -> None:
    """Linux: the run ends when the study process dies (even by kill -9), no orphan keeps
    training."""
    try:
        import ctypes
        import signal
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child(spec: RunSpec, metric: str) -> None:
    _die_with_parent()
    import mmkd_green  # noqa: F401  (registries in the fresh interpreter)
    from mmengine.utils import import_modules_from_strings

    # the config arrives pickled, so `Config.fromfile` did not import its `custom_imports`
    # (e.g. mmkd_green.detection, which registers the SSD parts in mmdet's registries) here
    if spec.cfg.get('custom_imports'):
        import_modules_from_strings(**spec.cfg.custom_imports)
    try:
        train_and_score(spec, metric)
    except BaseException:
        import traceback
        traceback.print_exc()
        os._exit(1)
    os._exit(0)


def execute(spec: RunSpec, metric: str, fork: bool = True) -> dict:
    """Run ``spec`` unless its result is cached; a failed run raises (and is never counted)."""
    cached = load_result(spec)
    if cached is not None:
        return dict(cached, cached=True, work_dir=spec.work_dir)
    _set_aside(spec.work_dir)
    os.makedirs(spec.work_dir, exist_ok=True)
    if fork:
        # a fresh interpreter: a forked child of a process that has run torch's OpenMP pool
        # can deadlock in its first parallel kernel
        proc = multiprocessing.get_context('spawn').Process(target=_child, args=(spec, metric))
        proc.start()
        try:
            proc.join()
        finally:
            if proc.is_alive():     # the study was interrupted: stop its run too
                proc.terminate()
                proc.join(10)
        if proc.exitcode != 0:
            raise RuntimeError(f'run {spec.label} failed (exit code {proc.exitcode}); its logs '
                               f'are in {spec.work_dir}. Rerun the study to retry it.')
    else:
        train_and_score(spec, metric)
    res = load_result(spec)
    if res is None:
        raise RuntimeError(f'run {spec.label} wrote no result in {spec.work_dir}')
    return dict(res, cached=False, work_dir=spec.work_dir)


def run_study(study: Config, out_dir: str, report_dir: Optional[str] = None,
              progress: bool = True, fork: bool = True,
              max_grid_kwh: Optional[float] = None) -> dict:
    """Train every run of the study (cached ones skipped) under ``out_dir/runs/``, then write
    the report into ``report_dir`` (default ``out_dir``). Studies sharing ``out_dir`` share
    identical runs (e.g. the teacher)."""
    from tqdm import tqdm
    report_dir = report_dir or out_dir
    os.makedirs(report_dir, exist_ok=True)
    specs = plan(study, out_dir)
    metric = study.get('metric', 'accuracy')
    results, announced = [], False
    bar = tqdm(specs, desc='τ study', unit='run', disable=not progress, dynamic_ncols=True)
    for spec in bar:
        bar.set_postfix_str(spec.label)
        res = execute(spec, metric, fork=fork)
        results.append(res)
        if res['kind'] == 'grid' and (not announced or max_grid_kwh is not None):
            forecast = predicted_grid(study, results)
            if not announced:
                announced = True
                bar.write(predicted_cost_text(forecast))
            check_grid_budget(forecast, max_grid_kwh)
    bar.close()
    report = summarize(study, results)
    report['tables'] = write_report(report, report_dir)
    return report


def predicted_grid(study: Config, results: List[dict]) -> Optional[dict]:
    """The whole grid's predicted cost vs one stochastic run, from the grid runs finished so far
    (``energy.grid_forecast.forecast_grid``: measured mean per grid run × planned grid runs; a
    stochastic run costs one run: same model, data and epochs, τ does not change the compute),
    plus the paper's 20-run grid at the same mean."""
    from mmkd_green.energy.grid_forecast import forecast_grid
    grid = [r['work_dir'] for r in results if r['kind'] == 'grid' and r.get('work_dir')]
    if not grid:
        return None
    planned = len(study.taus) * len(study.arms) * len(study.seeds)
    forecast = forecast_grid(grid, planned)
    forecast['paper_grid'] = {k: (None if v is None else v * PAPER_GRID_RUNS)
                              for k, v in forecast['per_run'].items()}
    return forecast


def predicted_cost_text(forecast: dict) -> str:
    from mmkd_green.energy.grid_forecast import format_grid_forecast
    paper = forecast['paper_grid']['energy_kwh']
    return (format_grid_forecast(forecast) + ('' if paper is None else
            f'; the paper\'s {PAPER_GRID_RUNS}-run grid: {paper:.4g} kWh'))


def check_grid_budget(forecast: Optional[dict], max_kwh: Optional[float]) -> None:
    """Refuse to go on when the grid is predicted to exceed ``max_kwh`` (finished runs kept)."""
    from mmkd_green.energy.grid_forecast import grid_budget_verdict
    why = None if forecast is None else grid_budget_verdict(forecast, max_kwh)
    if why:
        raise RuntimeError(f'{why}. Finished runs are kept: raise --max-grid-kwh or shrink the '
                           f'grid (--taus, --seeds) and rerun.')


# ------------------------------------------------------------------------------ statistics
def mean_std(values: Sequence[float]) -> dict:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if not len(v):
        return dict(mean=None, std=None, n=0)
    return dict(mean=float(v.mean()), std=float(v.std(ddof=1)) if len(v) > 1 else 0.0,
                n=int(len(v)))


def paired_interval(diffs: Sequence[float]) -> dict:
    """Mean of paired differences with its two-sided 95 % Student-t interval."""
    d = np.asarray(diffs, dtype=float)
    out = dict(mean=float(d.mean()) if len(d) else None, n=int(len(d)), values=d.tolist())
    if len(d) > 1:
        half = T975[min(len(d) - 1, len(T975)) - 1] * d.std(ddof=1) / math.sqrt(len(d))
        out.update(low=float(d.mean() - half), high=float(d.mean() + half))
    else:
        out.update(low=None, high=None)
    return out


def _cost(rows: List[dict]) -> dict:
    return {k: (None if any(r.get(k) is None for r in rows) else float(sum(r[k] for r in rows)))
            for k in COST_KEYS}


def summarize(study: Config, results: List[dict]) -> dict:
    """The study's numbers from the run results (see the module docstring)."""
    teacher = next((r for r in results if r['kind'] == 'teacher'), None)
    arms = {}
    for arm in study.arms:
        rows = [r for r in results if r.get('arm') == arm]
        seeds = sorted({r['seed'] for r in rows})
        grid = {}
        for t in sorted({r['tau'] for r in rows if r['kind'] == 'grid'}):
            rr = [r for r in rows if r['kind'] == 'grid' and r['tau'] == t]
            grid[f'{t:g}'] = dict(tau=t, val=mean_std([r['val_metric'] for r in rr]),
                                  test=mean_std([r['test_metric'] for r in rr]),
                                  cost=mean_std([r['energy_kwh'] for r in rr]))
        selected = {}
        for s in seeds:
            rr = [r for r in rows if r['kind'] == 'grid' and r['seed'] == s
                  and r['val_metric'] is not None]
            if rr:
                best = max(rr, key=lambda r: (r['val_metric'], -r['tau']))
                selected[s] = dict(tau=best['tau'], val=best['val_metric'],
                                   test=best['test_metric'])
        by_mean = max(grid.values(), key=lambda g: g['val']['mean'] or -1) if grid else None
        stochastic = {}
        for name in study.stochastic:
            rr = {r['seed']: r for r in rows if r['kind'] == 'stochastic' and r['sampler'] == name}
            diffs = [rr[s]['test_metric'] - selected[s]['test'] for s in seeds
                     if s in rr and s in selected]
            stochastic[name] = dict(test=mean_std([r['test_metric'] for r in rr.values()]),
                                    val=mean_std([r['val_metric'] for r in rr.values()]),
                                    diff_vs_selected=paired_interval(diffs),
                                    cost=_mean_cost(list(rr.values())))
        grid_rows = [r for r in rows if r['kind'] == 'grid']
        # the grid's cost per seed, over the seeds whose grid is complete
        complete = [s for s in seeds
                    if len({r['tau'] for r in grid_rows if r['seed'] == s}) == len(grid)]
        per_seed_grid = [_cost([r for r in grid_rows if r['seed'] == s]) for s in complete]
        grid_cost = {k: mean_std([c[k] for c in per_seed_grid]) for k in COST_KEYS}
        per_run = _mean_cost(grid_rows)
        paper = {k: (None if per_run[k] is None else per_run[k] * PAPER_GRID_RUNS)
                 for k in COST_KEYS}
        ratios = {}
        for name, st in stochastic.items():
            ratios[name] = {
                'grid_run': {k: _ratio(grid_cost[k]['mean'], st['cost'][k]) for k in COST_KEYS},
                'paper_grid': {k: _ratio(paper[k], st['cost'][k]) for k in COST_KEYS}}
        arms[arm] = dict(grid=grid, selected_per_seed=selected,
                         selected_test=mean_std([v['test'] for v in selected.values()]),
                         tau_by_mean_val=by_mean and by_mean['tau'], stochastic=stochastic,
                         grid_runs_per_seed=len(grid), grid_cost_per_seed=grid_cost,
                         grid_cost_per_run=per_run, paper_grid_cost=paper, ratios=ratios)
    return dict(metric=study.get('metric', 'accuracy'), seeds=list(study.seeds),
                taus=[float(t) for t in study.taus], stochastic_samplers=dict(study.stochastic),
                holdout=study.get('holdout'), teacher=teacher and dict(
                    val=teacher.get('val_metric'), test=teacher.get('test_metric'),
                    **{k: teacher.get(k) for k in COST_KEYS}),
                arms=arms, runs=results)


def _mean_cost(rows: List[dict]) -> dict:
    return {k: (None if not rows or any(r.get(k) is None for r in rows)
                else float(np.mean([r[k] for r in rows]))) for k in COST_KEYS}


def _ratio(a, b):
    return None if a is None or not b else a / b


# ----------------------------------------------------------------------------------- report
def _pct(ms: dict, digits: int = 2) -> str:
    if not ms or ms.get('mean') is None:
        return ''
    return f'{ms["mean"]:.{digits}f} ± {(ms.get("std") or 0):.{digits}f}'


def _digits(report: dict) -> int:
    """Decimals for scores: 2 for percentages (accuracy), 3 for fractions (mmdet's mAP)."""
    return 3 if 'map' in str(report.get('metric', '')).lower() else 2


def _g(v, spec='.3g') -> str:
    return '' if v is None else format(v, spec)


def report_markdown(report: dict) -> str:
    m = report['metric']
    dg = _digits(report)
    lines = [f'# τ study: fixed-τ grid vs stochastic τ ({m}, mean ± std over seeds '
             f'{report["seeds"]})', '']
    t = report.get('teacher')
    if t:
        lines += [f'Teacher (trained once, shared by every run): validation {_g(t["val"], f".{dg}f")}, '
                  f'test {_g(t["test"], f".{dg}f")}, {_g(t["energy_kwh"])} kWh, '
                  f'{_g(t["co2_g"])} g CO2-eq, {_g(t["seconds"], ".0f")} s.', '']
    for arm, a in report['arms'].items():
        lines += [f'## {arm}', '', f'| τ | validation {m} | test {m} | kWh per run |',
                  '|---|---|---|---|']
        for g in a['grid'].values():
            lines.append(f'| {g["tau"]:g} | {_pct(g["val"], dg)} | {_pct(g["test"], dg)} | '
                         f'{_g(g["cost"]["mean"])} |')
        for name, st in a['stochastic'].items():
            lines.append(f'| stochastic: {name} | {_pct(st["val"], dg)} | {_pct(st["test"], dg)} | '
                         f'{_g(st["cost"]["energy_kwh"])} |')
        sel = a['selected_per_seed']
        lines += ['', f'τ chosen on validation, per seed: '
                  + ', '.join(f'seed {s}: τ = {v["tau"]:g} (test {v["test"]:.{dg}f})'
                              for s, v in sel.items())
                  + f'; mean test of the chosen τ: {_pct(a["selected_test"], dg)}.', '',
                  f'| stochastic sampler | test {m} | stochastic − chosen τ (95 % CI over seeds) |',
                  '|---|---|---|']
        for name, st in a['stochastic'].items():
            d = st['diff_vs_selected']
            ci = ('' if d['low'] is None else
                  f' [{d["low"]:+.{dg}f}, {d["high"]:+.{dg}f}]')
            lines.append(f'| {name} | {_pct(st["test"], dg)} | '
                         f'{"" if d["mean"] is None else format(d["mean"], f"+.{dg}f")}{ci} '
                         f'(n = {d["n"]}) |')
        gc = {k: v['mean'] for k, v in a['grid_cost_per_seed'].items()}
        rows = [(f'grid as run ({a["grid_runs_per_seed"]} runs, mean over seeds)', gc),
                (f'paper grid ({PAPER_GRID_RUNS} runs = measured mean per run × '
                 f'{PAPER_GRID_RUNS})', a['paper_grid_cost'])]
        rows += [(f'one stochastic run ({name})', st['cost'])
                 for name, st in a['stochastic'].items()]
        for name, r in a['ratios'].items():
            rows += [(f'ratio grid as run / {name}', r['grid_run']),
                     (f'ratio paper grid / {name}', r['paper_grid'])]
        lines += ['', '| cost | kWh | g CO2-eq | train FLOPs | seconds |', '|---|---|---|---|---|']
        lines += [f'| {label} | ' + ' | '.join(_g(c[k]) for k in TABLE_COST_KEYS) + ' |'
                  for label, c in rows]
        lines.append('')
    return '\n'.join(lines) + '\n'


def write_report(report: dict, out_dir: str) -> Dict[str, str]:
    """``study.md``, ``study.csv`` (one row per run), ``study.json``, ``study_accuracy.png``
    and ``study_energy.png`` in ``out_dir``."""
    paths = {k: osp.join(out_dir, f'study.{k}') for k in ('md', 'csv', 'json')}
    with open(paths['md'], 'w') as f:
        f.write(report_markdown(report))
    cols = ['label', 'kind', 'arm', 'tau', 'sampler', 'seed', 'val_metric', 'test_metric',
            *COST_KEYS, 'wall_s']
    with open(paths['csv'], 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in report['runs']:
            w.writerow(['' if r.get(c) is None else r.get(c) for c in cols])
    slim = dict(report, runs=[{k: v for k, v in r.items() if k not in ('val', 'test')}
                              for r in report['runs']])
    write_json_atomic(paths['json'], slim)
    paths.update(plot_report(report, out_dir))
    return paths


def plot_report(report: dict, out_dir: str) -> Dict[str, str]:
    from mmkd_green.energy.plots import saved_figure
    out = dict(png_accuracy=osp.join(out_dir, 'study_accuracy.png'),
               png_energy=osp.join(out_dir, 'study_energy.png'))
    arms = report['arms']
    with saved_figure(out['png_accuracy'], dpi=110, ncols=len(arms),
                      figsize=(6 * len(arms), 4), squeeze=False) as (_, axes):
        for ax, (arm, a) in zip(axes[0], arms.items()):
            g = [v for v in a['grid'].values() if v['test']['mean'] is not None]
            if g:
                ax.errorbar([v['tau'] for v in g], [v['test']['mean'] for v in g],
                            yerr=[v['test']['std'] for v in g], fmt='o-', capsize=3,
                            label='fixed τ (test)', color='k')
            for i, (name, st) in enumerate(a['stochastic'].items()):
                ms = st['test']
                if ms['mean'] is None:
                    continue
                color = f'C{i}'
                ax.axhline(ms['mean'], color=color, label=f'stochastic: {name}')
                ax.axhspan(ms['mean'] - ms['std'], ms['mean'] + ms['std'],
                           color=color, alpha=0.15)
            ax.set_xlabel('τ')
            ax.set_ylabel(f'test {report["metric"]}')
            ax.set_title(f'{arm}: mean ± std over {len(report["seeds"])} seeds')
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)

    with saved_figure(out['png_energy'], dpi=110, figsize=(6, 4)) as (_, ax):
        seed0 = report['seeds'][0] if report['seeds'] else None
        for i, (arm, a) in enumerate(arms.items()):
            rows = [r for r in report['runs'] if r.get('arm') == arm and r['seed'] == seed0]
            grid = sorted((r for r in rows if r['kind'] == 'grid'), key=lambda r: r['tau'])
            if grid:
                cum = np.cumsum([r['energy_kwh'] or 0.0 for r in grid])
                ax.plot(range(1, len(grid) + 1), cum, 'o-', color=f'C{i}',
                        label=f'{arm}: fixed-τ grid (seed {seed0})')
            for j, r in enumerate(r for r in rows if r['kind'] == 'stochastic'):
                ax.plot([1], [r['energy_kwh'] or 0.0], marker='*^sD'[j % 4], markersize=12,
                        linestyle='none', color=f'C{i}', label=f'{arm}: one stochastic run '
                                                               f'({r["sampler"]})')
        ax.set_xlabel('runs trained')
        ax.set_ylabel('cumulative energy (kWh, with PUE)')
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return out


def report_from_finished(study: Config, out_dir: str, report_dir: Optional[str] = None) -> dict:
    """The report over the runs of the study that have finished so far (nothing is trained)."""
    results = [r for r in (load_result(s) for s in plan(study, out_dir)) if r is not None]
    report = summarize(study, results)
    report['tables'] = write_report(report, report_dir or out_dir)
    return report
