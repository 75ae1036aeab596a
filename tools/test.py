"""Evaluate a checkpoint (for KD checkpoints: the student alone), MMDetection's CLI.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
        [--cfg-options key=value ...] [--launcher pytorch]

A thin wrapper over ``mmkd_green.apis`` (same as ``python -m mmkd_green.apis test ...``).
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmkd_green import apis  # noqa: E402


def main(argv=None):
    return apis.test_main(argv)


if __name__ == '__main__':
    from mmkd_green.utils.cli import run_cli
    run_cli(main, cleanup=apis.shutdown_distributed)
