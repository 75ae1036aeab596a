"""The τ study: the paper's fixed-τ grid against stochastic τ, with costs (one tool, resumable).

    python tools/tune_temperature.py --profile cpu            # HKD, real CIFAR-10, 5 seeds, <= 120 min
    python tools/tune_temperature.py --profile cpu-2epoch     # the earlier 3-seed, 2-epoch profile
    python tools/tune_temperature.py --profile cpu-losses     # CMC (2 forms) and DML, <= 60 min
    python tools/tune_temperature.py --profile paper --data-root data/cifar10   # a GPU's job
    python tools/tune_temperature.py --profile bccd           # detection: SSD KD on real BCCD
    python tools/tune_temperature.py STUDY_CONFIG.py [--taus 1 2 4] [--seeds 0 1] [--out DIR]
    python tools/tune_temperature.py KD_CONFIG.py             # τ = 1..20 vs U[2, 20] of one config

A profile is a study config in ``configs/tau_study/`` (teacher, loss arms, τ grid, stochastic
samplers, seeds, metric, validation split); see ``mmkd_green/tau_study.py`` for the protocol.
Runs go to ``<out>/runs/<label>-<config hash>/`` and are cached by their resolved
config: rerunning (after a crash or kill -9) trains only what is missing. The report
(``study.md``, ``.csv``, ``.json``, ``study_accuracy.png``, ``study_energy.png``) is written to
``<out>/<profile>/``.
"""
import argparse
import os.path as osp
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)   # run from a checkout

from mmengine.config import DictAction  # noqa: E402

from mmkd_green import tau_study, tau_study_checks  # noqa: E402

PROFILES = {'cpu': 'cpu.py', 'cpu-2epoch': 'cpu_2epoch.py', 'cpu-losses': 'cpu_losses.py',
            'paper': 'paper.py', 'bccd': 'bccd.py'}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='fixed-τ grid vs stochastic τ study, with costs')
    p.add_argument('study', nargs='?', help='a study config (default: --profile\'s)')
    p.add_argument('--profile', choices=sorted(PROFILES),
                   help='a shipped study config from configs/tau_study/')
    p.add_argument('--out', default='work_dirs/tau_study',
                   help='runs go to OUT/runs/, the report to OUT/<profile or study name>/')
    p.add_argument('--data-root', help='the dataset folder of every run (overrides the study): '
                                       'CIFAR: the folder holding cifar-10-batches-py/; '
                                       'BCCD: the folder holding Annotations/')
    p.add_argument('--taus', type=float, nargs='+', help='grid τ values (overrides the study)')
    p.add_argument('--seeds', type=int, nargs='+', help='seeds (overrides the study)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default=None,
                   help='key=value config overrides for every run (teacher included), on top of '
                        'the study\'s common_cfg_options; they change the runs\' cache keys')
    p.add_argument('--max-grid-kwh', type=float,
                   help='stop (finished runs kept) once the grid is predicted to exceed this')
    p.add_argument('--report-only', action='store_true',
                   help='write the report from the finished runs; train nothing')
    p.add_argument('--code-version', choices=('source', 'package'),
                   help='what of the code the cache key holds: the mmkd_green sources\' SHA-1 '
                        '(default) or only the package version (keep finished runs across edits '
                        'you know do not change them)')
    p.add_argument('--no-fork', action='store_true', help='train in this process (debugging)')
    args = p.parse_args(argv)
    if bool(args.study) == bool(args.profile):
        p.error('give a study config or --profile (one of them)')
    return args


def main(argv=None):
    import signal
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # `kill`: stop the running run too
    args = parse_args(argv)
    path = args.study or osp.join(ROOT, 'configs', 'tau_study', PROFILES[args.profile])
    name = args.profile or osp.splitext(osp.basename(path))[0]
    try:
        tau_study_checks.check_max_grid_kwh(args.max_grid_kwh)
        study = tau_study.load_study(path, dict(data_root=args.data_root, taus=args.taus,
                                                seeds=args.seeds, cfg_options=args.cfg_options,
                                                code_version=args.code_version))
    except (ValueError, KeyError, FileNotFoundError) as e:
        sys.exit(f'tune_temperature: {e}')
    report_dir = osp.join(args.out, name)
    if args.report_only:
        try:
            report = tau_study.report_from_finished(study, args.out, report_dir)
        except FileNotFoundError as e:
            sys.exit(f'tune_temperature: {e}')
    else:
        try:    # bad input is refused here, before any training
            tau_study.check_before_training(study, tau_study.plan(study, args.out))
        except (ValueError, FileNotFoundError, RuntimeError) as e:
            sys.exit(f'tune_temperature: {e}')
        report = tau_study.run_study(study, args.out, report_dir, fork=not args.no_fork,
                                     max_grid_kwh=args.max_grid_kwh, checked=True)
    with open(report['tables']['md']) as f:
        print(f.read())
    print(f'report: {report["tables"]}')
    for g in report.get('incomplete') or []:
        print(f'incomplete: arm {g["arm"]}, seed {g["seed"]}: {len(g["missing"])} run(s) missing'
              + (f', {len(g["failed"])} failed' if g['failed'] else ''))
    if report.get('failed'):
        sys.exit(f'tune_temperature: {len(report["failed"])} run(s) failed (listed above, not '
                 f'counted); rerun the same command to retry them, finished runs are kept')
    return report


if __name__ == '__main__':
    from mmkd_green.utils.cli import run_cli
    run_cli(main)
