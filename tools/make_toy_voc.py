"""Write the toy VOC-layout detection set (JPEG, XML, ImageSets) used by the demo and tests.

    python tools/make_toy_voc.py [--out data/toy_voc] [--trainval 240] [--test 80] [--seed 0]
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmkd_green.detection.toy_voc import make_toy_voc  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description='Generate a small VOC-layout shape dataset')
    parser.add_argument('--out', default='data/toy_voc', help='root (VOC2007/ is written in it)')
    parser.add_argument('--trainval', type=int, default=240)
    parser.add_argument('--test', type=int, default=80)
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    info = make_toy_voc(args.out, args.trainval, args.test, seed=args.seed)
    print(f'wrote {info["num_trainval"]} trainval + {info["num_test"]} test images to '
          f'{osp.join(info["root"], info["sub_root"])}; objects per class: {info["objects"]}')
    return info


if __name__ == '__main__':
    from mmkd_green.utils.cli import run_cli
    run_cli(main)
