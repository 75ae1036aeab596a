"""Data-free KD with CMI (WRN-40-2 -> WRN-16-1): ``tools/dfkd.py --method cmi``.

    python tools/dfkd_cmi.py --teacher T.pth [--dataset cifar10|cifar100] [--tau stochastic|fixed]
        [--data-root data/cifar10] [--out student.pth] [--epochs N] [--resume]
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

from dfkd import apis, main  # noqa: E402

if __name__ == '__main__':
    from mmkd_green.utils.cli import run_cli
    run_cli(main, method='cmi', cleanup=apis.shutdown_distributed)
