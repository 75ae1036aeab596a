"""Data-free KD (CMI or DeepInversion): teacher checkpoint in, student checkpoint out.

    python tools/dfkd.py --method cmi --dataset cifar10 --tau stochastic \
        --teacher work_dirs/dfkd/cifar10_wrn40_2_teacher/epoch_100.pth \
        [--data-root data/cifar10] [--out student.pth] [--epochs N] [--work-dir DIR] \
        [--resume [CKPT]] [--no-progress] [--cfg-options key=value ...]
    python tools/dfkd.py --config configs/dfkd/<any>.py --teacher T.pth ...

Without ``--data-root`` no real data is read (no validation); with it the student is evaluated
on the real CIFAR test split after every ``train_cfg.val_interval`` epochs. PNG grids of the
synthesized images go to ``<work_dir>/synthetic/epoch_<e>.png``; energy/carbon to
``<work_dir>/carbon/``.
"""
import argparse
import os.path as osp
import sys

from mmengine.config import DictAction

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout

from mmkd_green import apis  # noqa: E402
from mmkd_green.dfkd.pipeline import (DATASETS, METHODS, TAUS, config_name,  # noqa: E402
                                      prepare_config, run)

CONFIG_DIR = osp.join(REPO, 'configs', 'dfkd')


def parse_args(argv=None, method=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    if method is None:
        parser.add_argument('--method', choices=METHODS, help='synthesizer (or give --config)')
    parser.add_argument('--config', help='a config file instead of --method/--dataset/--tau')
    parser.add_argument('--dataset', choices=DATASETS, default='cifar10')
    parser.add_argument('--tau', choices=TAUS, default='stochastic',
                        help='stochastic: τ ~ U[2, 20] per batch; fixed: τ = 20')
    parser.add_argument('--teacher', help='teacher checkpoint (default: model.teacher_ckpt)')
    parser.add_argument('--data-root', help='real CIFAR folder for evaluation (optional)')
    parser.add_argument('--out', help='student checkpoint path (default <work_dir>/student.pth)')
    parser.add_argument('--epochs', type=int, help='override train_cfg.max_epochs')
    parser.add_argument('--work-dir', help="run folder (default: the config's work_dir, "
                        'work_dirs/dfkd/<config> for the shipped ones)')
    parser.add_argument('--resume', nargs='?', const='auto',
                        help='resume from CKPT, or from the latest checkpoint in the work dir')
    parser.add_argument('--no-progress', action='store_true', help='no tqdm progress bars')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings (mmengine key=value syntax)')
    args = parser.parse_args(argv)
    if method is not None:
        args.method = method
    if args.config is None and args.method is None:
        parser.error('give --method (cmi | deepinversion) or --config')
    return args


def main(argv=None, method=None):
    args = parse_args(argv, method)
    path = args.config or osp.join(CONFIG_DIR, config_name(args.method, args.dataset, args.tau))
    cfg = apis.load_config(path, work_dir=args.work_dir, cfg_options=args.cfg_options,
                           resume=args.resume)
    prepare_config(cfg, teacher=args.teacher, data_root=args.data_root, epochs=args.epochs,
                   progress=not args.no_progress)
    return run(cfg, out=args.out)


if __name__ == '__main__':
    from mmkd_green.utils.cli import run_cli
    run_cli(main, cleanup=apis.shutdown_distributed)   # frees the runner, ends gloo
