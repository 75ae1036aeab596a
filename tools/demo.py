"""The README demo (about 2-3 minutes on 2 CPU cores): toy VOC data -> toy teacher -> KD student
with tau ~ U[2, 20] per batch -> VOC07 11-point mAP -> energy/carbon table, one progress line per
epoch with an ETA, and at the end <out>/detections.png (the exported student's detections under
the ground truth) and <out>/carbon.png. Other packages' deprecation notices go to
<out>/foreign_warnings.log and the runs' log files instead of the console.

    python tools/demo.py [--out work_dirs/demo] [--data data/toy_voc] [--baseline]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import warnings  # noqa: E402

with warnings.catch_warnings(record=True) as EARLY:   # import-time notices: to the log file
    import mmkd_green  # noqa: E402,F401
    from mmkd_green.detection.demo import run_demo  # noqa: E402
from mmkd_green.utils.console import QuietConsole  # noqa: E402


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
    main()
