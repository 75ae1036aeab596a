"""How good is the meter's whole-run prediction after epoch 1? Real CIFAR-10 runs; prints JSON.

Trains the shipped MobileNetV2 student config (narrowed, a subset of ../shared/data/cifar10, a short
schedule) ``--repeats`` times through ``tools/train.py`` (one subprocess each, fresh work dir), then
reads each run's ``summary.json``: the ``predicted`` line written after epoch 1 and the actual
totals, and prints their relative errors ``(predicted - actual) / actual`` per run and the median
and range over the runs.

    python benchmarks/prediction_accuracy.py [--epochs 4] [--train-size 640] [--repeats 3] [--jobs 3]

Skips (prints ``{"skipped": reason}``) when ../shared/data/cifar10 is absent.
"""
import argparse
import json
import os
import os.path as osp
import shutil
import statistics
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = osp.join('..', 'shared', 'data', 'cifar10')
CONFIG = osp.join(ROOT, 'configs', 'cifar10', 'mobilenetv2_student.py')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data-root', default=DATA)
    p.add_argument('--work-dir', default=osp.join('work_dirs', 'bench_prediction'))
    p.add_argument('--epochs', type=int, default=4)
    p.add_argument('--train-size', type=int, default=640)
    p.add_argument('--val-size', type=int, default=320)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--width', type=float, default=0.25, help='MobileNetV2 widen_factor')
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--jobs', type=int, default=1, help='runs trained at the same time')
    return p.parse_args(argv)


def options(a) -> list:
    return [f'train_dataloader.dataset.data_root={a.data_root}',
            f'val_dataloader.dataset.data_root={a.data_root}',
            f'test_dataloader.dataset.data_root={a.data_root}',
            f'train_dataloader.dataset.indices={a.train_size}',
            f'val_dataloader.dataset.indices={a.val_size}',
            f'train_dataloader.batch_size={a.batch_size}',
            'train_dataloader.num_workers=0', 'val_dataloader.num_workers=0',
            'train_dataloader.persistent_workers=False', 'val_dataloader.persistent_workers=False',
            f'train_cfg.max_epochs={a.epochs}', 'train_cfg.val_interval=1',
            f'model.backbone.widen_factor={a.width}', 'model.backbone.last_channels=256',
            'default_hooks.logger.interval=5']


def main(argv=None):
    a = parse_args(argv)
    if not osp.isdir(osp.join(ROOT, a.data_root)):
        print(json.dumps(dict(skipped=f'{a.data_root} not found')))
        return None
    runs, pending = [], list(range(a.repeats))
    os.makedirs(a.work_dir, exist_ok=True)
    while pending:
        batch, pending = pending[:a.jobs], pending[a.jobs:]
        procs = []
        for i in batch:
            work = osp.join(a.work_dir, f'run{i}')
            shutil.rmtree(work, ignore_errors=True)
            cmd = [sys.executable, osp.join(ROOT, 'tools', 'train.py'), CONFIG, '--work-dir',
                   work, '--cfg-options', *options(a)]
            log = open(osp.join(a.work_dir, f'run{i}.log'), 'w')
            procs.append((work, log, subprocess.Popen(cmd, cwd=ROOT, stdout=log,
                                                      stderr=subprocess.STDOUT)))
        for work, log, proc in procs:
            if proc.wait() != 0:
                raise RuntimeError(f'training failed, see {log.name}')
            log.close()
            runs.append(_result(work))
    out = dict(config=osp.relpath(CONFIG, ROOT), options=options(a), jobs=a.jobs, runs=runs)
    for key in ('energy_kwh', 'seconds'):
        errs = [r['error'][key] for r in runs]
        out[f'error_{key}'] = dict(median=statistics.median(errs), min=min(errs), max=max(errs))
    print(json.dumps(out, indent=1))
    return out


def _result(work):
    with open(osp.join(work, 'carbon', 'summary.json')) as f:
        pred = json.load(f)['prediction']
    first = pred['predictions'][0]
    return dict(work_dir=work, predicted={k: first[k] for k in (
            'energy_kwh', 'co2_g', 'seconds')}, actual={k: pred['actual'][k] for k in (
                'energy_kwh', 'co2_g', 'seconds')}, error=first['error'], method=first['method'])


if __name__ == '__main__':
    main()
