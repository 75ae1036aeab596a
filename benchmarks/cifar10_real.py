"""Real-data KD run on ../shared/data/cifar10 within a CPU budget; prints JSON.

Four metered runs through ``python -m mmkd_green.apis train`` (one subprocess each, shipped
configs + overrides): the ResNet-18 teacher, the MobileNetV2 student alone, HKD with stochastic
τ ~ U[2, 20] and HKD with fixed τ. To fit a shared 2-core CPU the networks are narrow (teacher
``base_channels``, student ``widen_factor``), the data a subset (first N training images;
validation on the first M images of ``test_batch``, which holds further official *training*
images, see ../shared/data/README.md) and the schedule short (the paper's lr 0.1 with ×0.2 steps
at 40/60/80 % of the epochs). Finished runs are skipped on a rerun.

    python benchmarks/cifar10_real.py [--epochs 3] [--train-size 2500] [--val-size 1000] ...

Skips (prints ``{"skipped": reason}``) when ../shared/data/cifar10 is absent.
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
DATA = osp.join('..', 'shared', 'data', 'cifar10')   # relative to the project root
CFG = osp.join(ROOT, 'configs', 'cifar10')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--data-root', default=DATA)
    p.add_argument('--work-dir', default=osp.join('work_dirs', 'bench_cifar10_real'))
    p.add_argument('--epochs', type=int, default=3)
    p.add_argument('--train-size', type=int, default=2500)
    p.add_argument('--val-size', type=int, default=1000)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--teacher-width', type=int, default=16, help='ResNet-18 base_channels')
    p.add_argument('--student-width', type=float, default=0.25, help='MobileNetV2 widen_factor')
    p.add_argument('--student-last', type=int, default=256, help='MobileNetV2 last_channels')
    p.add_argument('--tau', type=float, default=4.0, help='the fixed-τ run')
    p.add_argument('--workers', type=int, default=1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--with-qat', action='store_true',
                   help='also fine-tune the trained student with QAT (torch.ao) and score int8')
    p.add_argument('--qat-epochs', type=int, default=1)
    p.add_argument('--qat-lr', type=float, default=0.01)
    return p.parse_args(argv)


def common_options(a) -> list:
    m = [max(1, round(a.epochs * f)) for f in (0.4, 0.6, 0.8)]
    opts = [f'train_dataloader.dataset.data_root={a.data_root}',
            f'val_dataloader.dataset.data_root={a.data_root}',
            f'test_dataloader.dataset.data_root={a.data_root}',
            f'train_dataloader.dataset.indices={a.train_size}',
            f'val_dataloader.dataset.indices={a.val_size}',
            f'test_dataloader.dataset.indices={a.val_size}',
            f'train_dataloader.batch_size={a.batch_size}',
            f'train_dataloader.num_workers={a.workers}',
            f'val_dataloader.num_workers={a.workers}',
            f'test_dataloader.num_workers={a.workers}',
            f'train_cfg.max_epochs={a.epochs}',
            f'param_scheduler.0.milestones=[{m[0]},{m[1]},{m[2]}]',
            f'randomness.seed={a.seed}',
            'default_hooks.logger.interval=20']
    return opts


def runs(a, teacher_ckpt) -> dict:
    t = [f'model.backbone.base_channels={a.teacher_width}']
    s = [f'model.backbone.widen_factor={a.student_width}',
         f'model.backbone.last_channels={a.student_last}']
    kd = [f'model.student.widen_factor={a.student_width}',
          f'model.student.last_channels={a.student_last}',
          f'model.teacher.base_channels={a.teacher_width}',
          f'model.teacher_ckpt={teacher_ckpt}']
    return {
        'teacher': ('resnet18_teacher.py', t),
        'student': ('mobilenetv2_student.py', s),
        'kd_stochastic': ('kd_hkd_stochastic_resnet18_mobilenetv2.py', kd),
        'kd_fixed': ('kd_hkd_fixed_resnet18_mobilenetv2.py', kd + [f'temperature.tau={a.tau}']),
    }


def finished(work_dir: str) -> bool:
    from mmkd_green.energy.report import load_run_totals
    try:
        return bool(load_run_totals(work_dir).get('finished'))
    except FileNotFoundError:
        return False


def run_logged(cmd, wd, name) -> float:
    """Run ``cmd`` from the project root with its output in ``<wd>/stdout.log``; wall seconds.
    A failure raises with the log's path."""
    os.makedirs(wd, exist_ok=True)
    t0 = time.time()
    with open(osp.join(wd, 'stdout.log'), 'w') as f:
        rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT).returncode
    if rc != 0:
        raise RuntimeError(f'{name} failed (exit {rc}); see {wd}/stdout.log')
    return time.time() - t0


def run_qat(a) -> dict:
    """Paper Table 8 baseline: QAT fine-tuning of the trained float student, then int8."""
    from mmkd_green.energy.report import load_run_totals
    wd = osp.join(a.work_dir, 'qat')
    float_ckpt = osp.join(a.work_dir, 'student', f'epoch_{a.epochs}.pth')
    opts = [o for o in common_options(a) if not o.startswith(('train_cfg.max_epochs',
                                                              'param_scheduler'))]
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'qat_student.py'),
           osp.join(CFG, 'qat_mobilenetv2_student.py'), '--work-dir', wd, '--cfg-options',
           *opts, f'train_cfg.max_epochs={a.qat_epochs}', f'optim_wrapper.optimizer.lr={a.qat_lr}',
           'param_scheduler.0.milestones=[1000]',
           f'model.backbone.widen_factor={a.student_width}',
           f'model.backbone.last_channels={a.student_last}', f'model.float_ckpt={float_ckpt}']
    summary_path = osp.join(wd, 'qat_summary.json')
    wall = None if osp.isfile(summary_path) else run_logged(cmd, wd, 'qat')
    with open(summary_path) as f:
        summary = json.load(f)
    totals = load_run_totals(wd)
    return dict(command=' '.join(osp.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd),
                fake_quant_accuracy=summary['fake_quant'].get('cls/accuracy'),
                int8_accuracy=summary['int8'].get('cls/accuracy'),
                int8_f1=summary['int8'].get('cls/f1'),
                float_weight_bytes=summary['float_state_dict_bytes'],
                int8_state_dict_bytes=summary['int8_state_dict_bytes'],
                energy_kwh=totals['energy_kwh'], energy_kwh_it=totals['energy_kwh_it'],
                co2_g=totals['co2_g'], seconds=totals['seconds'],
                train_flops=totals['train_flops'], epochs=totals['epochs'],
                wall_s_this_call=wall)


def main(argv=None):
    a = parse_args(argv)
    os.chdir(ROOT)   # relative paths (data, work dirs) are relative to the project root
    if not osp.isdir(osp.join(a.data_root, 'cifar-10-batches-py')):
        out = dict(skipped=f'no CIFAR-10 pickles under {osp.abspath(a.data_root)} '
                           '(../shared/data is not part of a fresh clone)')
        print(json.dumps(out))
        return out
    import mmkd_green  # noqa: F401
    from mmkd_green.energy.report import load_run_totals
    from mmkd_green.registry import MODELS
    os.makedirs(a.work_dir, exist_ok=True)
    teacher_dir = osp.join(a.work_dir, 'teacher')
    teacher_ckpt = osp.join(teacher_dir, f'epoch_{a.epochs}.pth')
    results = dict(settings=vars(a), runs={})
    for name, (config, extra) in runs(a, teacher_ckpt).items():
        wd = osp.join(a.work_dir, name)
        cmd = [sys.executable, '-m', 'mmkd_green.apis', 'train', osp.join(CFG, config),
               '--work-dir', wd, '--cfg-options', *common_options(a), *extra]
        wall = None if finished(wd) else run_logged(cmd, wd, name)
        totals = load_run_totals(wd)
        net = (dict(type='CifarResNet18', base_channels=a.teacher_width) if name == 'teacher'
               else dict(type='CifarMobileNetV2', widen_factor=a.student_width,
                         last_channels=a.student_last))
        params = sum(p.numel() for p in MODELS.build(net).parameters())
        metric = totals.get('metric') or {}
        results['runs'][name] = dict(
            command=' '.join(osp.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd),
            params=params,
            accuracy=metric.get('cls/accuracy'), f1=metric.get('cls/f1'),
            kappa=metric.get('cls/kappa'), precision=metric.get('cls/precision'),
            recall=metric.get('cls/recall'), specificity=metric.get('cls/specificity'),
            energy_kwh=totals['energy_kwh'], energy_kwh_it=totals['energy_kwh_it'],
            co2_g=totals['co2_g'], seconds=totals['seconds'], train_flops=totals['train_flops'],
            infer_flops_per_image=totals['infer_flops_per_image'], epochs=totals['epochs'],
            tau=totals.get('tau'), wall_s_this_call=wall,
            energy_methods={c: d['methods'] for c, d in totals['components'].items()})
    if a.with_qat:
        results['runs']['qat'] = run_qat(a)
    with open(osp.join(a.work_dir, 'results.json'), 'w') as f:
        json.dump(results, f, indent=2, default=str)
    print(json.dumps(results, indent=2, default=str))
    return results


if __name__ == '__main__':
    main()
