"""The τ grid-search baseline: train a fixed-τ config for every τ, pick the best, cost it all.

    python tools/tune_temperature.py configs/cifar10/kd_hkd_fixed_resnet18_mobilenetv2.py \
        [--taus 1 2 ... 20] [--out work_dirs/tau_grid/NAME] [--metric accuracy] [--mode max]
        [--stochastic RUN_DIR | --stochastic-config configs/cifar10/kd_hkd_stochastic_...py]
        [--cfg-options key=value ...] [--in-process]

Each τ trains in ``<out>/tau_<τ>/`` (``temperature.tau=τ``); finished τ are skipped on a rerun.
Writes ``<out>/tau_grid.{md,csv,json}``: each τ's metric and cost, the grid's total, the
stochastic run beside it and the ratio grid / stochastic.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmkd_green  # noqa: E402,F401
from mmkd_green.classification.temperature_grid import run_grid  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description='fixed-τ grid search baseline with energy cost')
    p.add_argument('config', help='a fixed-τ KD config (temperature: ConstantTemperature)')
    p.add_argument('--taus', type=float, nargs='+', default=[float(t) for t in range(1, 21)],
                   help='τ values (default 1 .. 20, the paper\'s 20-run grid)')
    p.add_argument('--out', help='grid folder (default work_dirs/tau_grid/<config name>)')
    p.add_argument('--metric', default='accuracy',
                   help='validation metric that picks the best τ (default accuracy)')
    p.add_argument('--mode', choices=['max', 'min'], default='max')
    p.add_argument('--stochastic', metavar='RUN_DIR', help='a finished stochastic-τ run')
    p.add_argument('--stochastic-config', metavar='CFG',
                   help='train this stochastic-τ config into <out>/stochastic (skipped if done)')
    p.add_argument('--cfg-options', nargs='+', default=[],
                   help='key=value overrides passed to every run')
    p.add_argument('--in-process', action='store_true',
                   help='train in this process instead of one subprocess per run')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    out = args.out or osp.join('work_dirs', 'tau_grid', osp.splitext(osp.basename(args.config))[0])
    summary = run_grid(args.config, args.taus, out, metric_key=args.metric, mode=args.mode,
                       cfg_options=args.cfg_options, stochastic_dir=args.stochastic,
                       stochastic_config=args.stochastic_config, in_process=args.in_process)
    with open(summary['tables']['md']) as f:
        print(f.read())
    print(f'best τ = {summary["best_tau"]:g} ({args.metric} = {summary["best_metric"]}); '
          f'tables: {summary["tables"]}')
    return summary


if __name__ == '__main__':
    main()
