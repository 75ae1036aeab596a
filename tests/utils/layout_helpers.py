"""Run as a script: the tiny CIFAR teacher (ResNet-18, ``base_channels=4``: its 1x1 stride-2
shortcut convs train the shape that hangs oneDNN's AVX2 kernel) for one epoch, then the tiny KD
config (HKD, stochastic τ) from that teacher, on generated data, in the default layout unless
``--force``; prints ``channels_last=<bool> finished=<bool>`` per run (used by
``test_memory_format.py`` in a child process with a time limit). ``--teacher-only`` stops after
the teacher."""
import argparse
import os.path as osp
import sys

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))
sys.path[:0] = [ROOT, osp.join(ROOT, 'tests', 'classification')]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('work_dir')
    parser.add_argument('--force', choices=['true', 'false'], default=None)
    parser.add_argument('--teacher-only', action='store_true')
    a = parser.parse_args()
    from cls_helpers import load, write_cifar

    from mmkd_green import apis
    data = osp.dirname(write_cifar(osp.join(a.work_dir, 'data', 'cifar-10-batches-py')))
    runs = [('cifar10/resnet18_teacher.py', 'teacher', None)]
    if not a.teacher_only:
        runs.append(('cifar10/kd_hkd_stochastic_resnet18_mobilenetv2.py', 'kd',
                     osp.join(a.work_dir, 'teacher', 'epoch_1.pth')))
    for config, name, teacher_ckpt in runs:
        cfg = load(config, data_root=data, work_dir=osp.join(a.work_dir, name),
                   teacher_ckpt=teacher_ckpt)
        if a.force is not None:
            cfg.data_preprocessor.channels_last = a.force == 'true'
        runner = apis.train(cfg)
        print(f'{name}: channels_last={runner.model.channels_last} '
              f'finished={osp.isfile(osp.join(a.work_dir, name, "epoch_1.pth"))}', flush=True)


if __name__ == '__main__':
    main()
