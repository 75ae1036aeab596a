"""Detection τ study on real images (BCCD): fixed τ ∈ {1, 2, 4, 8, 16, 20} vs τ ~ U[2, 20],
2 seeds, toy-sized SSD teacher/student, VOC07 11-point mAP + energy per run.

    python tools/det_tau_study.py                         # the full study -> results/det_tau_bccd
    python tools/det_tau_study.py --profile smoke --out /tmp/det_tau_smoke   # 2 runs x 1 epoch
    python tools/det_tau_study.py --taus 2 8 --seeds 0 --epochs 5 --out work_dirs/det_tau_small

Writes <out>/study.{json,csv,md,png} and one work dir per run (teacher/, tau4_seed0/, ...);
finished runs are skipped on a rerun. See mmkd_green/detection/tau_study.py.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import warnings  # noqa: E402

with warnings.catch_warnings(record=True) as EARLY:   # import-time notices: to the log file
    import mmkd_green  # noqa: E402,F401
    import mmkd_green.detection  # noqa: E402,F401
    from mmkd_green.detection.tau_study import PROFILES, run_study  # noqa: E402
from mmkd_green.utils.console import QuietConsole  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='detection τ study (fixed τ grid vs stochastic τ)')
    p.add_argument('--profile', choices=sorted(PROFILES), default='bccd')
    p.add_argument('--out', default=None, help='study folder (default results/det_tau_<profile>)')
    p.add_argument('--taus', type=float, nargs='+', help='fixed τ values (override the profile)')
    p.add_argument('--seeds', type=int, nargs='+')
    p.add_argument('--epochs', type=int, help='epochs of every run (default: the configs\')')
    p.add_argument('--data-root', help='BCCD folder (default: $MMKD_BCCD_ROOT or '
                                       '../shared/data/BCCD/)')
    p.add_argument('--subset', type=int, help='use the first N images of each split')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    kwargs = dict(PROFILES[args.profile])
    for key in ('taus', 'seeds', 'epochs', 'data_root', 'subset'):
        if getattr(args, key) is not None:
            kwargs[key] = getattr(args, key)
    out = args.out or osp.join('results', f'det_tau_{args.profile}')
    with QuietConsole(osp.join(out, 'foreign_warnings.log'), early=EARLY):
        summary = run_study(out, **kwargs)
    with open(summary['files']['md']) as f:
        print(f.read())
    print(f'[study] {summary["wall_seconds"]:.0f} s; files: {summary["files"]}')
    return summary


if __name__ == '__main__':
    main()
