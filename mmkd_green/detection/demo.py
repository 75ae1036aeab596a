"""The README demo: toy VOC data → teacher → KD student with stochastic τ → VOC07 mAP → carbon table.

Every step is the real pipeline at toy size (``configs/toy/``): mmengine's Runner, SafeSSDHead,
VOCLayoutDataset, SSDDistiller with ``UniformTemperature(2, 20)`` + ``TemperatureHook``, mmdet's
``VOCMetric`` (11-point), ``CarbonFootprintHook``; the KD checkpoint is exported as a plain student
checkpoint and evaluated with the student's own config (the teacher is not needed for test).
"""
import os.path as osp
import time
from typing import Optional

from mmengine.config import Config
from mmengine.runner import Runner

from .export import export_student
from .toy_voc import make_toy_voc

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOY = osp.join(ROOT, 'configs', 'toy')
MAP_KEY = 'pascal_voc/mAP'


def load_cfg(path: str, data_root: Optional[str] = None, work_dir: Optional[str] = None,
             epochs: Optional[int] = None, batch_size: Optional[int] = None,
             seed: Optional[int] = None, **model) -> Config:
    """A detection config of ours (``path`` relative to the repo root) pointed at a VOC-layout
    ``data_root``, with the toy schedule shortened to ``epochs`` and quiet logging."""
    cfg = Config.fromfile(osp.join(ROOT, path))
    cfg.log_level = 'WARNING'
    if work_dir is not None:
        cfg.work_dir = str(work_dir)
    if seed is not None:
        cfg.randomness = dict(seed=seed)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if data_root is not None:
            cfg[loader].dataset.data_root = data_root
        if batch_size is not None:
            cfg[loader].batch_size = batch_size
    if epochs is not None:
        cfg.train_cfg.max_epochs = cfg.train_cfg.val_interval = epochs
        cfg.default_hooks.checkpoint.interval = epochs
        cfg.param_scheduler[1].update(T_max=epochs, end=epochs)
    cfg.model.update(model)
    return cfg


def _toy_cfg(name: str, work_dir: str, data_root: str, epochs: Optional[int], seed: int,
             **model) -> Config:
    cfg = load_cfg(osp.join('configs', 'toy', name), data_root, work_dir, epochs, seed=seed,
                   **model)
    cfg.custom_hooks += [dict(type='QuietConsoleHook'),
                         dict(type='StageProgressHook', stage=osp.basename(work_dir))]
    return cfg


def _train(cfg: Config) -> str:
    runner = Runner.from_cfg(cfg)
    runner.train()
    return osp.join(cfg.work_dir, f'epoch_{runner.max_epochs}.pth')


def _test(cfg: Config, ckpt: str) -> dict:
    cfg.load_from = ckpt
    return Runner.from_cfg(cfg).test()


def _pictures(out_dir, data_root, epochs, seed, student_ckpt, runs) -> list:
    """Exported student's detections beside ground truth on 4 test images + cumulative CO2."""
    from .visualize import save_carbon_plot, save_detection_figure
    cfg = _toy_cfg('ssdlite_student_toy.py', osp.join(out_dir, 'test_student'), data_root,
                   epochs, seed)
    return [save_detection_figure(cfg, student_ckpt, osp.join(out_dir, 'detections.png'),
                                  pred_name='KD student'),
            save_carbon_plot(runs, osp.join(out_dir, 'carbon.png'))]


def format_table(rows) -> str:
    """Rows of ``load_run_totals`` dicts (plus ``run`` and ``mAP``) as a plain-text table."""
    cols = [('run', '{}'), ('epochs', '{}'), ('seconds', '{:.1f}'), ('energy_kwh', '{:.2e}'),
            ('co2_g', '{:.3f}'), ('train_flops', '{:.2e}'), ('infer_flops_per_image', '{:.2e}'),
            ('mAP', '{:.3f}')]
    fmt = lambda f, v: '-' if v is None else f.format(v)  # noqa: E731
    table = [[c for c, _ in cols]] + [[fmt(f, r.get(c)) for c, f in cols] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(cols))]
    lines = ['  '.join(v.rjust(w) for v, w in zip(row, widths)) for row in table]
    return '\n'.join([lines[0], '-' * len(lines[0])] + lines[1:])


def run_demo(out_dir: str = 'work_dirs/demo', data_root: str = 'data/toy_voc',
             num_trainval: int = 240, num_test: int = 80, epochs: Optional[int] = None,
             seed: int = 0, baseline: bool = False, verbose: bool = True) -> dict:
    """Run the demo; returns ``{'teacher_mAP', 'student_mAP', ['baseline_mAP'], 'rows',
    'seconds'}`` and prints progress and the energy/carbon table when ``verbose``."""
    from ..energy.report import load_run_totals
    say = print if verbose else (lambda *a, **k: None)
    t0 = time.time()
    info = make_toy_voc(data_root, num_trainval, num_test, seed=seed)
    data_root = info['root'] + '/'
    say(f'[demo] toy VOC set: {num_trainval} trainval + {num_test} test images, classes '
        f'{info["classes"]} -> {data_root}')
    runs, result = [], {}

    say('[demo] 1/3 training the teacher (configs/toy/ssd_teacher_toy.py) ...')
    t_dir = osp.join(out_dir, 'teacher')
    t_ckpt = _train(_toy_cfg('ssd_teacher_toy.py', t_dir, data_root, epochs, seed))
    if baseline:
        say('[demo]     baseline: the student alone (configs/toy/ssdlite_student_toy.py) ...')
        runs.append(('student alone', osp.join(out_dir, 'student_alone'), 'ssdlite_student_toy.py'))
        _train(_toy_cfg('ssdlite_student_toy.py', runs[-1][1], data_root, epochs, seed))

    say('[demo] 2/3 KD student, tau ~ U[2, 20] per batch (configs/toy/ssd_kd_stochastic_toy.py) ...')
    kd_dir = osp.join(out_dir, 'kd_stochastic')
    kd_ckpt = _train(_toy_cfg('ssd_kd_stochastic_toy.py', kd_dir, data_root, epochs, seed,
                              teacher_config=osp.join(TOY, 'ssd_teacher_toy.py'),
                              teacher_ckpt=t_ckpt))

    say('[demo] 3/3 VOC07 11-point mAP of the exported student (student config, no teacher) ...')
    student_ckpt = osp.join(out_dir, 'student_kd_exported.pth')
    export_student(kd_ckpt, student_ckpt)
    metrics = _test(_toy_cfg('ssdlite_student_toy.py', osp.join(out_dir, 'test_student'),
                             data_root, epochs, seed), student_ckpt)
    result['student_mAP'] = float(metrics[MAP_KEY])
    result['pictures'] = _pictures(out_dir, data_root, epochs, seed, student_ckpt,
                                   [('teacher', t_dir)] + [(n, d) for n, d, _ in runs] +
                                   [('KD student', kd_dir)])
    say(f'[demo] pictures: {", ".join(result["pictures"])}')

    rows = []
    for name, run_dir in [('teacher', t_dir)] + [(n, d) for n, d, _ in runs] + \
            [('KD student (tau~U[2,20])', kd_dir)]:
        totals = dict(load_run_totals(run_dir))
        metric = totals.get('metric') or {}
        totals.update(run=name, mAP=metric.get(MAP_KEY))
        rows.append(totals)
    result['teacher_mAP'] = rows[0]['mAP']
    if baseline:
        result['baseline_mAP'] = rows[1]['mAP']
    result.update(rows=rows, seconds=time.time() - t0)
    say('\n' + format_table(rows))
    say(f'\n[demo] student (KD, exported) VOC07 mAP = {result["student_mAP"]:.3f}; teacher '
        f'{result["teacher_mAP"]:.3f}' +
        (f'; student alone {result["baseline_mAP"]:.3f}' if baseline else '') +
        f'; total {result["seconds"]:.0f} s')
    return result
