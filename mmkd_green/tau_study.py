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

The report separates two questions (``mmkd_green/tau_estimators.py``): (a) what a grid user
gets (per-seed choice, selection luck included) and (b) the τ effect (τ chosen by mean validation
over seeds and leave-one-seed-out, against every sampler, paired, with intervals), a same-cost
best-of-k control, the ANOVA over τ and the minimum detectable difference; the cost with and
without the teacher from medians, with slow runs flagged (``mmkd_green/tau_cost.py``).

Before any training the study is checked (``mmkd_green/tau_study_checks.py``): values, bf16,
readable data, and no validation image in a training split (student's or teacher's).

Runs are cached by a key (``mmkd_green/run_cache_key.py``: resolved config without cosmetic
fields, code version, torch version, teacher checkpoint SHA-1): a run whose folder holds
``study_result.json`` with the same key is not trained again (a teacher also needs its
checkpoint, else it is retrained); a folder without one (a crash, a kill -9) is moved aside
(``<run>.crashed-N``, logs kept) and the run is redone. A run is trained under an exclusive lock
(``<run>.lock``): a second study on the same ``--out`` waits for it and then reads its result.
Each run trains in a child process (``spawn``) that stops if its parent is gone (checked after
arming PR_SET_PDEATHSIG); a failed run is recorded (``study_failed.json``), never counted, and the
study goes on with the other runs (a failed teacher stops it: every KD run needs it).
"""
import copy
import csv
import json
import multiprocessing
import os
import os.path as osp
import signal
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.config import Config

from mmkd_green import apis, run_cache_key, tau_cost, tau_estimators, tau_study_checks
from mmkd_green.energy.records import write_json_atomic
from mmkd_green.utils import parent_death
from mmkd_green.utils.run_lock import RunLock

RESULT_FILE = 'study_result.json'
FAILED_FILE = 'study_failed.json'
COST_KEYS = ('energy_kwh', 'energy_kwh_it', 'co2_g', 'seconds', 'train_flops')
PAPER_GRID_RUNS = 20


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
    code_version: str = 'source'   # run_cache_key.code_version mode of the key


def config_key(cfg: Config, teacher_sha1: Optional[str] = None, code_version: str = 'source'
               ) -> str:
    """The run's cache key (``run_cache_key.run_key``); the teacher checkpoint path is not part
    of it, the checkpoint's SHA-1 is."""
    cfg = copy.deepcopy(cfg)
    if 'model' in cfg and 'teacher_ckpt' in cfg.model:
        cfg.model.pop('teacher_ckpt')
    return run_cache_key.run_key(cfg, teacher_sha1, code_version)


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
    study.study_path = path
    tau_study_checks.check_values(study)
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


def teacher_checkpoint(spec: RunSpec) -> str:
    """The final checkpoint a teacher run leaves in its folder."""
    return osp.join(spec.work_dir, f'epoch_{int(spec.cfg.train_cfg.max_epochs)}.pth')


def _teacher_sha1(path: str) -> Optional[str]:
    return run_cache_key.file_sha1(path) if osp.isfile(path) else None


def plan(study: Config, out_dir: str, teacher: Optional[RunSpec] = None) -> List[RunSpec]:
    """Every run of the study in training order (teacher first), each with its key and folder.

    A KD run's key holds its teacher checkpoint's SHA-1. While the study's teacher is not
    trained yet, its KD runs get a provisional key (``pending`` + the teacher's key) and
    ``run_study`` plans again once the teacher exists, passing the ``teacher`` it trained (the
    KD runs then point at that very run's checkpoint)."""
    specs = []
    mode = study.get('code_version', 'source')
    if teacher is not None:
        specs.append(teacher)
    elif study.get('teacher'):
        t_part = dict(study.teacher)
        t_cfg = _run_config(study, t_part, t_part.get('seed', 0), '')
        teacher = RunSpec('teacher', 'teacher', t_cfg, seed=t_part.get('seed', 0))
        teacher.key = config_key(t_cfg, code_version=mode)
        teacher.code_version = mode
        teacher.work_dir = t_cfg.work_dir = _work_dir(out_dir, 'teacher', teacher.key)
        specs.append(teacher)
    if teacher is not None:
        teacher_ckpt = teacher_checkpoint(teacher)
        teacher_sha1 = (load_result(teacher) and _teacher_sha1(teacher_ckpt)) \
            or f'pending teacher run {teacher.key}'
    ext_sha1 = {}
    for seed in study.seeds:
        for arm, part in study.arms.items():
            runs = [(f'{arm}_tau{float(t):g}_s{seed}', 'grid', float(t), None,
                     dict(type='ConstantTemperature', tau=float(t))) for t in study.taus]
            runs += [(f'{arm}_{name}_s{seed}', 'stochastic', None, name, dict(sampler))
                     for name, sampler in study.stochastic.items()]
            for label, kind, tau, sname, temperature in runs:
                cfg = _run_config(study, dict(part), seed, '')
                cfg.temperature = temperature
                check_selection_split(cfg, label)
                spec = RunSpec(label, kind, cfg, arm=arm, tau=tau, sampler=sname, seed=int(seed))
                if teacher is not None:
                    cfg.model.teacher_ckpt = teacher_ckpt
                    sha1 = teacher_sha1
                else:   # the KD config's own checkpoint (missing: refused by the checks)
                    ckpt = cfg.model.get('teacher_ckpt') if 'model' in cfg else None
                    if ckpt and ckpt not in ext_sha1:
                        ext_sha1[ckpt] = _teacher_sha1(ckpt) or f'missing {ckpt}'
                    sha1 = ext_sha1.get(ckpt)
                spec.key = config_key(cfg, sha1, mode)
                spec.code_version = mode
                spec.work_dir = cfg.work_dir = _work_dir(out_dir, label, spec.key)
                specs.append(spec)
    return specs


def load_result(spec: RunSpec) -> Optional[dict]:
    """The run's finished result with the run's key, or None (also for a file that holds no
    result object, and for a teacher whose checkpoint is gone: it is retrained)."""
    path = osp.join(spec.work_dir, RESULT_FILE)
    if not osp.isfile(path):
        return None
    try:
        with open(path) as f:
            res = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(res, dict) or res.get('key') != spec.key or not res.get('finished'):
        return None
    if spec.kind == 'teacher' and not osp.isfile(teacher_checkpoint(spec)):
        return None
    return res


def load_failure(spec: RunSpec) -> Optional[dict]:
    """The failure record of the run's last attempt, if it failed."""
    try:
        with open(osp.join(spec.work_dir, FAILED_FILE)) as f:
            res = json.load(f)
    except (OSError, ValueError):
        return None
    return res if isinstance(res, dict) and res.get('key') == spec.key else None


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
               versions=run_cache_key.versions(spec.code_version),
               git=run_cache_key.git_state(),
               **{k: totals.get(k) for k in COST_KEYS})
    write_json_atomic(osp.join(spec.work_dir, RESULT_FILE), res)
    return res


def die_with_parent(parent_pid: int) -> None:
    """Linux: the run ends (SIGTERM) when the study process dies, even by kill -9, so no orphan
    keeps training; a child whose parent died before the signal was armed exits at once (code 3,
    see :mod:`mmkd_green.utils.parent_death`)."""
    parent_death.die_with_parent(
        parent_pid, sig=signal.SIGTERM, exit_code=3,
        message=f'τ study run: the study process {parent_pid} is gone; not training')


def _child(spec: RunSpec, metric: str, parent_pid: int) -> None:
    die_with_parent(parent_pid)
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


class RunFailed(RuntimeError):
    """A run that trained and failed (its record is in ``<run>/study_failed.json``)."""


def execute(spec: RunSpec, metric: str, fork: bool = True, log=print) -> dict:
    """Run ``spec`` unless its result is cached, holding the run's lock (a second process
    waits, then reads the result). A failed run raises :class:`RunFailed` (never counted)."""
    cached = load_result(spec)
    if cached is not None:
        return dict(cached, cached=True, work_dir=spec.work_dir)
    os.makedirs(osp.dirname(spec.work_dir), exist_ok=True)
    lock = RunLock(spec.work_dir + '.lock')
    if not lock.try_acquire():
        log(f'run {spec.label} is being trained by another process (pid {lock.holder()}); '
            f'waiting for it')
        lock.acquire()
    try:
        cached = load_result(spec)       # the other process may have finished it
        if cached is not None:
            return dict(cached, cached=True, work_dir=spec.work_dir)
        try:
            return _train_locked(spec, metric, fork)
        except Exception as e:
            if osp.isdir(spec.work_dir):
                write_json_atomic(osp.join(spec.work_dir, FAILED_FILE), dict(
                    key=spec.key, label=spec.label, error=str(e), time=time.time()))
            raise RunFailed(str(e)) from e
    finally:
        lock.release()


def _train_locked(spec: RunSpec, metric: str, fork: bool) -> dict:
    _set_aside(spec.work_dir)
    os.makedirs(spec.work_dir, exist_ok=True)
    if fork:
        # a fresh interpreter: a forked child of a process that has run torch's OpenMP pool
        # can deadlock in its first parallel kernel
        proc = multiprocessing.get_context('spawn').Process(target=_child,
                                                            args=(spec, metric, os.getpid()))
        proc.start()
        try:
            proc.join()
        finally:
            if proc.is_alive():     # the study was interrupted: stop its run too
                proc.terminate()
                proc.join(10)
        if proc.exitcode != 0:
            raise RuntimeError(f'run {spec.label} failed (exit code {proc.exitcode}); its logs '
                               f'are in {spec.work_dir}. The study\'s inputs were checked before '
                               f'training, so a rerun retries it (it fails again if the cause '
                               f'is in the log, not in the machine)')
    else:
        train_and_score(spec, metric)
    res = load_result(spec)
    if res is None:
        raise RuntimeError(f'run {spec.label} wrote no result in {spec.work_dir}')
    return dict(res, cached=False, work_dir=spec.work_dir)


def run_study(study: Config, out_dir: str, report_dir: Optional[str] = None,
              progress: bool = True, fork: bool = True,
              max_grid_kwh: Optional[float] = None, checked: bool = False) -> dict:
    """Train every run of the study (cached ones skipped) under ``out_dir/runs/``, then write
    the report into ``report_dir`` (default ``out_dir``). Studies sharing ``out_dir`` share
    identical runs (e.g. the teacher). ``checked``: :func:`check_before_training` already ran."""
    from tqdm import tqdm
    tau_study_checks.check_max_grid_kwh(max_grid_kwh)
    report_dir = report_dir or out_dir
    specs = plan(study, out_dir)
    if not checked:
        check_before_training(study, specs)
    os.makedirs(report_dir, exist_ok=True)
    metric = study.get('metric', 'accuracy')
    results, failed, announced = [], [], False
    if specs and specs[0].kind == 'teacher':
        try:
            results.append(execute(specs[0], metric, fork=fork))
        except RunFailed as e:
            raise RuntimeError(f'the teacher failed, so no KD run can start: {e}') from e
        specs = plan(study, out_dir, teacher=specs[0])[1:]   # KD keys: the teacher's SHA-1
    cached = {s.label: load_result(s) for s in specs}
    todo = [s for s in specs if cached[s.label] is None]
    # the bar (and its ETA) counts only the runs to train: cached runs take no time
    bar = tqdm(total=len(todo), desc=f'τ study ({len(specs) - len(todo)} runs cached)',
               unit='run', disable=not progress, dynamic_ncols=True)
    for spec in specs:
        if cached[spec.label] is not None:
            res = dict(cached[spec.label], cached=True, work_dir=spec.work_dir)
        else:
            bar.set_postfix_str(spec.label)
            try:
                res = execute(spec, metric, fork=fork, log=bar.write)
            except RunFailed as e:
                failed.append(dict(label=spec.label, error=str(e)))
                bar.write(f'run {spec.label} failed; the study goes on with the others: {e}')
                bar.update(1)
                continue
            bar.update(1)
        results.append(res)
        if res['kind'] == 'grid' and (not announced or max_grid_kwh is not None):
            forecast = predicted_grid(study, results)
            if not announced:
                announced = True
                bar.write(predicted_cost_text(forecast))
            check_grid_budget(forecast, max_grid_kwh)
    bar.close()
    final = plan(study, out_dir)   # every run with its final key (the teacher is trained)
    report = summarize(study, results, measure_teacher_shares(final))
    report['failed'] = failed
    report['incomplete'] = incomplete_grids(study, final)
    report['tables'] = write_report(report, report_dir)
    return report


def measure_teacher_shares(specs: List[RunSpec], log=print) -> Dict[str, Optional[dict]]:
    """Per loss arm, :func:`tau_cost.teacher_forward_share` of its model on one real training
    batch (the first KD run of the arm, its teacher loaded from the run's checkpoint). None for an
    arm whose model has no ``teacher_logits`` (e.g. detection distillers) or that cannot be built
    (logged): the report then leaves teacher-logit sharing out. It runs in the study process on
    the CPU, so for a study trained on a GPU the time share is the CPU's (the FLOP share holds
    on any device)."""
    import torch
    from mmengine.registry import MODELS
    from mmengine.runner import Runner
    shares = {}
    for spec in specs:
        if spec.kind not in ('grid', 'stochastic') or spec.arm in shares:
            continue
        shares[spec.arm] = None
        try:
            import mmkd_green.classification  # noqa: F401  (registers the classifiers)
            model = MODELS.build(copy.deepcopy(spec.cfg.model))
            if not (hasattr(model, 'teacher_logits') and hasattr(model, 'extract_logits')):
                continue
            loader = Runner.build_dataloader(copy.deepcopy(spec.cfg.train_dataloader), seed=0)
            batch = next(iter(loader))
            model.train()
            with torch.no_grad():
                inputs = model.data_preprocessor(batch, training=True)['inputs']
            shares[spec.arm] = tau_cost.teacher_forward_share(model, inputs)
        except Exception as e:   # the report must not be lost to this estimate
            log(f'teacher-logit sharing estimate of arm {spec.arm} left out: '
                f'{type(e).__name__}: {e}')
    return shares


def check_before_training(study: Config, specs: List[RunSpec],
                          bf16_supported: Optional[bool] = None) -> None:
    """``tau_study_checks``: bf16, readable data, no validation image in a training split."""
    tau_study_checks.check_bf16(specs, bf16_supported)
    tau_study_checks.check_data_and_splits(study, specs)


def incomplete_grids(study: Config, specs: List[RunSpec]) -> List[dict]:
    """Per arm and seed whose runs are not all finished: the missing and the failed labels."""
    out = []
    teacher = next((s for s in specs if s.kind == 'teacher'), None)
    if teacher is not None and load_result(teacher) is None:
        out.append(dict(arm=None, seed=teacher.seed, missing=['teacher'], failed=[]))
    groups: Dict[tuple, List[RunSpec]] = {}
    for s in specs:
        if s.kind != 'teacher':
            groups.setdefault((s.arm, s.seed), []).append(s)
    for (arm, seed), group in groups.items():
        missing = [s.label for s in group if load_result(s) is None]
        if missing:
            out.append(dict(arm=arm, seed=seed, missing=missing,
                            failed=[s.label for s in group if s.label in missing
                                    and load_failure(s) is not None]))
    return out


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


paired_interval = tau_estimators.paired_interval


def _cost(rows: List[dict]) -> dict:
    return {k: (None if any(r.get(k) is None for r in rows) else float(sum(r[k] for r in rows)))
            for k in COST_KEYS}


def summarize(study: Config, results: List[dict],
              teacher_shares: Optional[Dict[str, Optional[dict]]] = None) -> dict:
    """The study's numbers from the run results (see the module docstring); ``teacher_shares``
    (:func:`measure_teacher_shares`) adds the grid's cost with teacher-logit sharing."""
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
        arms[arm] = dict(estimates=tau_estimators.estimate_arm(
                             rows, study.taus, list(study.stochastic),
                             control_ks=study.get('control_ks', (2, 3))),
                         cost=tau_cost.arm_cost(rows, teacher, len(study.taus),
                                                list(study.stochastic),
                                                (teacher_shares or {}).get(arm)),
                         grid=grid, selected_per_seed=selected,
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
    lines = [f'# τ study: fixed-τ grid vs stochastic τ ({m}, mean ± std over the finished '
             f'runs of seeds {report["seeds"]})', '']
    if report.get('incomplete'):
        lines += [f'**Interim report:** {len(report["incomplete"])} grid(s) incomplete (listed '
                  f'at the end); every number below is over the runs finished so far, and (a) '
                  f'and (b) use only the seeds whose grid is complete.', '']
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
        if a.get('estimates'):
            lines += [''] + estimates_markdown(a['estimates'], dg)
        if a.get('cost'):
            lines += ['', '### Cost (medians; end to end = with the teacher)', '']
            lines += tau_cost.cost_markdown(a['cost'])
            lines += ['', 'Teacher-logit sharing (one teacher forward per seed and iteration for '
                      'all runs of a seed) is not implemented: every run above computes its own '
                      'teacher forward, as users run a grid today, and the measured ratios are '
                      'those of that grid. Sharing would make the grid cheaper, not the single '
                      'stochastic run (the "with sharing" rows, computed from the teacher\'s FLOP '
                      'and time shares where shown).']
        lines.append('')
    if report.get('failed'):
        lines += ['## Failed runs (not counted; a rerun retries them)', '']
        lines += [f'- {f["label"]}: {f["error"]}' for f in report['failed']] + ['']
    if report.get('incomplete'):
        lines += ['## Incomplete grids', '']
        lines += [f'- arm {g["arm"]}, seed {g["seed"]}: missing {", ".join(g["missing"])}'
                  + (f' (failed: {", ".join(g["failed"])})' if g['failed'] else '')
                  for g in report['incomplete']] + ['']
    return '\n'.join(lines) + '\n'


def _iv(d: dict, dg: int) -> str:
    if d.get('mean') is None:
        return 'n/a'
    ci = '' if d.get('low') is None else f' [{d["low"]:+.{dg}f}, {d["high"]:+.{dg}f}]'
    return f'{d["mean"]:+.{dg}f}{ci}'


def estimates_markdown(e: dict, dg: int = 2) -> List[str]:
    """(a) and (b) of ``tau_estimators`` as markdown lines (differences: stochastic − grid)."""
    n = e['n_seeds']
    lines = [f'### (a) What a grid user gets (per-seed choice on validation, selection luck '
             f'included; {n} seeds with a complete grid)', '']
    lines.append('Chosen τ per seed: ' + ', '.join(
        f'seed {s}: τ = {v["tau"]:g} (test {v["test"]:.{dg}f})'
        for s, v in e['per_seed_choice'].items()) + (
        '' if e['per_seed_choice_mean'] is None else
        f'; mean {e["per_seed_choice_mean"]:.{dg}f}.'))
    lines += ['', '| sampler | stochastic − per-seed choice, 95 % t-interval | reading |',
              '|---|---|---|']
    for q, r in e['samplers'].items():
        lines.append(f'| {q} | {_iv(r["vs_per_seed_choice"], dg)} | '
                     f'{r["vs_per_seed_choice"]["verdict"]} |')
    lines += ['', 'Same-cost control, luck on both sides: the best of k stochastic runs '
              '(k seeds) chosen on validation, against the per-seed grid choice:', '',
              '| sampler | k | E[best of k] test | best of k − per-seed choice, 95 % t-interval '
              '(cyclic windows, approximate) | note |', '|---|---|---|---|---|']
    for q, r in e['samplers'].items():
        for c in r['best_of_k']:
            lines.append(f'| {q} | {c["k"]} | {_g(c["expected_best"], f".{dg}f")} | '
                         f'{_iv(c["diff_vs_per_seed_choice"], dg)} | {c["note"] or ""} |')
    loso = ', '.join(f'seed {s}: τ = {t:g}' for s, t in e['loso_choice'].items())
    lines += ['', '### (b) The τ effect (selection luck removed from the comparison)', '',
              f'τ chosen by mean validation over the seeds: '
              f'{"n/a" if e["tau_by_mean"] is None else format(e["tau_by_mean"], "g")}; '
              f'leave one seed out: {loso or "n/a (needs 2 seeds)"}.', '',
              '| sampler | stochastic − τ by mean validation | stochastic − leave-one-seed-out τ '
              '| reading (leave-one-seed-out) | detectable difference (its paired sd) |',
              '|---|---|---|---|---|']
    for q, r in e['samplers'].items():
        lines.append(f'| {q} | {_iv(r["vs_by_mean"], dg)} | {_iv(r["vs_loso"], dg)} | '
                     f'{r["vs_loso"]["verdict"]} | {_g(r["vs_loso"]["mdd"], f".{dg}f")} |')
    an = e['anova']
    anova_text = (f'F({an["df_between"]}, {an["df_within"]}) = {_g(an["F"], ".2f")}, '
                  f'p = {_g(an["p"], ".3g")}' if an['df_within'] >= 1
                  else 'n/a (needs 2 seeds with a complete grid)')
    lines += ['', f'One-way ANOVA of the test score over τ: {anova_text}; run-to-run '
              f'σ within τ = {_g(an["sigma_within"], f".{dg}f")}. Smallest paired difference '
              f'these {n} seeds detect (two-sided α = {e["alpha"]:g}, power {e["power"]:g}, '
              f'paired sd = √2 σ): {_g(e["study_mdd"], f".{dg}f")}. Intervals that hold 0 do '
              f'not show parity: differences up to their ends remain possible.']
    return lines


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


def read_study_csv(path: str) -> List[dict]:
    """The runs of a ``study.csv`` written by :func:`write_report`, typed back (numbers as
    float, ``seed`` as int, empty cells as None): the input of :mod:`.tau_estimators` and
    :mod:`.tau_cost`, e.g. to re-analyse a published study without its run folders."""
    num = {'tau', 'val_metric', 'test_metric', 'wall_s', *COST_KEYS}
    rows = []
    with open(path, newline='') as f:
        for r in csv.DictReader(f):
            row = {k: (None if v == '' else v) for k, v in r.items()}
            for k in num & row.keys():
                row[k] = None if row[k] is None else float(row[k])
            row['seed'] = None if row.get('seed') is None else int(row['seed'])
            rows.append(row)
    return rows


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
    """The report over the runs of the study that have finished so far (nothing is trained),
    naming the grids that are incomplete (``report['incomplete']``)."""
    runs_dir = osp.join(out_dir, 'runs')
    if not osp.isdir(runs_dir):
        raise FileNotFoundError(f'--report-only: no runs under {runs_dir}: nothing has been trained '
                                f'into {out_dir} yet. Start the study (without --report-only), or '
                                f'point --out at the folder of an earlier study')
    specs = plan(study, out_dir)
    results = [dict(r, work_dir=s.work_dir) for s, r in ((s, load_result(s)) for s in specs)
               if r is not None]
    report = summarize(study, results, measure_teacher_shares(specs))
    report['failed'] = []
    report['incomplete'] = incomplete_grids(study, specs)
    report['tables'] = write_report(report, report_dir or out_dir)
    return report
