"""Train a model (KD or baseline) from a config, with MMDetection's command-line interface.

    python tools/train.py configs/ssd_kd_stochastic.py [--work-dir DIR] [--resume [CKPT]]
        [--amp] [--auto-scale-lr] [--cfg-options key=value ...] [--launcher pytorch]

A thin wrapper over ``mmkd_green.apis`` (same as ``python -m mmkd_green.apis train ...``).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout

from mmkd_green import apis  # noqa: E402


def main(argv=None):
    return apis.train_main(argv)


if __name__ == '__main__':
    from mmkd_green.utils.cli import run_cli
    run_cli(main, cleanup=apis.shutdown_distributed)
