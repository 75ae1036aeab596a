"""The README demo (about 2-3 minutes on 2 CPU cores): toy VOC data -> toy teacher -> KD student
with tau ~ U[2, 20] per batch -> VOC07 11-point mAP -> energy/carbon table, one progress line per
epoch with an ETA, and at the end <out>/detections.png (the exported student's detections under
the ground truth) and <out>/carbon.png. Other packages' deprecation notices go to
<out>/foreign_warnings.log and the runs' log files instead of the console.

    python tools/demo.py [--out work_dirs/demo] [--data data/toy_voc] [--baseline] [--epochs N]

Every step is the real pipeline at toy size (``configs/toy/``) run through ``mmkd_green.apis``:
mmengine's Runner, SafeSSDHead, VOCLayoutDataset, SSDDistiller with ``UniformTemperature(2, 20)``
+ ``TemperatureHook``, mmdet's ``VOCMetric`` (11-point), ``CarbonFootprintHook``; the KD
checkpoint is exported as a plain student checkpoint and evaluated with the student's own config
(the teacher is not needed for test). The table is ``energy.report``'s (``tools/carbon_report.py``).
"""
import argparse
import os.path as osp
import sys
import time
from typing import Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout

import warnings  # noqa: E402

with warnings.catch_warnings(record=True) as EARLY:   # import-time notices: to the log file
    warnings.simplefilter('always')
    from mmkd_green import apis  # noqa: E402
    import mmkd_green.detection  # noqa: E402,F401
from mmkd_green.utils.console import QuietConsole  # noqa: E402

TOY = osp.join(REPO, 'configs', 'toy')
MAP_KEY = 'pascal_voc/mAP'


def toy_cfg(name: str, work_dir: str, data_root: str, epochs: Optional[int], seed: int,
            **model):
    """``configs/toy/<name>`` pointed at ``data_root``, ``epochs`` long (its schedule follows),
    seeded and quiet; ``model`` updates the model dict."""
    cfg = apis.load_config(osp.join(TOY, name), work_dir=work_dir)
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=seed)
    apis.point_data_root(cfg, data_root)
    if epochs is not None:
        apis.set_epochs(cfg, epochs)
    cfg.model.update(model)
    cfg.custom_hooks = list(cfg.custom_hooks) + [
        dict(type='QuietConsoleHook'), dict(type='StageProgressHook', stage=osp.basename(work_dir))]
    return cfg


def train(cfg) -> str:
    """Train; returns the last checkpoint."""
    runner = apis.train(cfg)
    return osp.join(cfg.work_dir, f'epoch_{runner.max_epochs}.pth')


def run_demo(out_dir: str = 'work_dirs/demo', data_root: str = 'data/toy_voc',
             num_trainval: int = 240, num_test: int = 80, epochs: Optional[int] = None,
             seed: int = 0, baseline: bool = False, verbose: bool = True) -> dict:
    """Run the demo; returns ``{'teacher_mAP', 'student_mAP', ['baseline_mAP'], 'rows',
    'seconds'}`` (``rows``: ``energy.report.build_table``'s) and prints progress and the
    energy/carbon table when ``verbose``."""
    from mmkd_green.detection import make_toy_voc
    from mmkd_green.detection.export import export_student
    from mmkd_green.energy.report import build_table, table_markdown
    say = print if verbose else (lambda *a, **k: None)
    t0 = time.time()
    info = make_toy_voc(data_root, num_trainval, num_test, seed=seed)
    data_root = info['root'] + '/'
    say(f'[demo] toy VOC set: {num_trainval} trainval + {num_test} test images, classes '
        f'{info["classes"]} -> {data_root}')
    dirs = dict(teacher=osp.join(out_dir, 'teacher'))

    say('[demo] 1/3 training the teacher (configs/toy/ssd_teacher_toy.py) ...')
    t_ckpt = train(toy_cfg('ssd_teacher_toy.py', dirs['teacher'], data_root, epochs, seed))
    if baseline:
        say('[demo]     baseline: the student alone (configs/toy/ssdlite_student_toy.py) ...')
        dirs['baseline'] = osp.join(out_dir, 'student_alone')
        train(toy_cfg('ssdlite_student_toy.py', dirs['baseline'], data_root, epochs, seed))

    say('[demo] 2/3 KD student, tau ~ U[2, 20] per batch (configs/toy/ssd_kd_stochastic_toy.py) ...')
    dirs['kd'] = osp.join(out_dir, 'kd_stochastic')
    kd_ckpt = train(toy_cfg('ssd_kd_stochastic_toy.py', dirs['kd'], data_root, epochs, seed,
                            teacher_config=osp.join(TOY, 'ssd_teacher_toy.py'),
                            teacher_ckpt=t_ckpt))

    say('[demo] 3/3 VOC07 11-point mAP of the exported student (student config, no teacher) ...')
    student_ckpt = osp.join(out_dir, 'student_kd_exported.pth')
    export_student(kd_ckpt, student_ckpt)
    metrics = apis.test(toy_cfg('ssdlite_student_toy.py', osp.join(out_dir, 'test_student'),
                                data_root, epochs, seed), student_ckpt)

    from mmkd_green.detection.visualize import save_carbon_plot, save_detection_figure
    test_cfg = toy_cfg('ssdlite_student_toy.py', osp.join(out_dir, 'test_student'), data_root,
                       epochs, seed)
    pictures = [save_detection_figure(test_cfg, student_ckpt, osp.join(out_dir, 'detections.png'),
                                      pred_name='KD student'),
                save_carbon_plot([(k, d) for k, d in dirs.items()], osp.join(out_dir,
                                                                             'carbon.png'))]
    say(f'[demo] pictures: {", ".join(pictures)}')

    rows, runs = build_table(list(dirs.values()), metric_key=MAP_KEY)
    by_dir = {name: totals for name, _, totals, _ in runs}
    result = {f'{key}_mAP': (by_dir[osp.basename(d)].get('metric') or {}).get(MAP_KEY)
              for key, d in dirs.items() if key != 'kd'}
    result.update(student_mAP=float(metrics[MAP_KEY]), rows=rows, seconds=time.time() - t0,
                  pictures=pictures)
    say('\n' + table_markdown(rows))
    say(f'[demo] student (KD, exported) VOC07 mAP = {result["student_mAP"]:.3f}; teacher '
        f'{result["teacher_mAP"]:.3f}' +
        (f'; student alone {result["baseline_mAP"]:.3f}' if baseline else '') +
        f'; total {result["seconds"]:.0f} s')
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description='Detection KD demo on generated VOC data')
    parser.add_argument('--out', default='work_dirs/demo', help='work dirs of the three runs')
    parser.add_argument('--data', default='data/toy_voc', help='where the toy VOC set is written')
    parser.add_argument('--trainval', type=int, default=240)
    parser.add_argument('--test', type=int, default=80)
    parser.add_argument('--epochs', type=int, default=None, help='override the toy configs\' epochs')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--baseline', action='store_true',
                        help='also train the student alone (adds about a third to the time)')
    args = parser.parse_args(argv)
    # other packages' deprecation notices: off the console, into this file and the run logs
    with QuietConsole(osp.join(args.out, 'foreign_warnings.log'), early=EARLY):
        return run_demo(args.out, args.data, args.trainval, args.test, args.epochs, args.seed,
                        baseline=args.baseline)


if __name__ == '__main__':
    from mmkd_green.utils.cli import run_cli
    run_cli(main)
