"""Export the student of a KD (SSDDistiller) checkpoint as a plain mmdet checkpoint.

    python tools/export_student.py work_dirs/ssd_kd_stochastic/epoch_24.pth ssdlite_kd.pth
    python tools/test.py configs/ssdlite_mobilenetv2_voc0712.py ssdlite_kd.pth
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmkd_green.detection.export import export_student  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description='Export the student of a KD checkpoint')
    parser.add_argument('kd_checkpoint', help='checkpoint saved by an SSDDistiller run')
    parser.add_argument('out', help='output .pth (plain mmdet detector checkpoint)')
    args = parser.parse_args(argv)
    info = export_student(args.kd_checkpoint, args.out)
    print(f'wrote {info["out"]}: {info["num_tensors"]} student tensors'
          + (f', dropped {len(info["dropped"])} other keys' if info['dropped'] else ''))
    return info


if __name__ == '__main__':
    from mmkd_green.utils.cli import run_cli
    run_cli(main)
