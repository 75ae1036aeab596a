"""Run upstream zju-vipa/CMI's ``datafree_kd.py`` through mmkd-green's adapter: every KD step
draws τ from the shared sampler, every epoch is metered.

    export MMKD_CMI_ROOT=/path/to/CMI        # checkout of commit 9e79fa9 (third_party/README.md)
    python third_party/run_upstream_cmi.py [--tau stochastic|fixed] [--low 2 --high 20 | --T 20]
        [--seed 0] [--work-dir work_dirs/upstream_cmi] [--data-root DIR] [--teacher-ckpt PTH]
        -- <datafree_kd.py flags>

e.g. ``-- --method cmi --dataset cifar10 --batch_size 256 --teacher wrn40_2 --student wrn16_1
--lr 0.1 --kd_steps 400 --ep_steps 400 --g_steps 200 --lr_g 1e-3 --adv 0.5 --bn 1 --oh 1
--cr 0.8 --cr_T 0.2 --T 20 --gpu 0 --seed 0 --save_dir run/cmi``. Upstream's ``--T`` is ignored
by the criterion (τ comes from the sampler); use ``--tau fixed --T 20`` for the fixed baseline.

Upstream runs with ``--work-dir`` as its cwd (its ``checkpoints/`` and ``run/`` land there, the
checkout stays untouched). ``--data-root`` points upstream's CIFAR-10/100 at a folder of python
pickles (any subset of train batches, no md5 check, no download); ``--teacher-ckpt`` places a
teacher checkpoint in upstream's layout (``{'state_dict': ...}``) where upstream loads it;
``--val-subset N`` evaluates on the first N test images only. Without CUDA, leave out ``--gpu``:
upstream then runs on the CPU.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmkd_green  # noqa: E402,F401
from mmkd_green.dfkd.upstream_cmi import UpstreamCMIAdapter  # noqa: E402


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ours, upstream = (argv[:argv.index('--')], argv[argv.index('--') + 1:]) if '--' in argv \
        else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--root', help='upstream checkout (default $MMKD_CMI_ROOT)')
    parser.add_argument('--tau', choices=('stochastic', 'fixed'), default='stochastic')
    parser.add_argument('--low', type=float, default=2.0)
    parser.add_argument('--high', type=float, default=20.0)
    parser.add_argument('--T', type=float, default=20.0, help='τ of --tau fixed')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--work-dir', default='work_dirs/upstream_cmi',
                        help="upstream's cwd (its checkpoints/, run/) and where carbon/ goes")
    parser.add_argument('--data-root',
                        help='folder with CIFAR-10/100 python pickles (cifar-10-batches-py/ or '
                             'cifar-100-python/, or that folder itself) read instead of '
                             "upstream's md5-checked torchvision download")
    parser.add_argument('--teacher-ckpt',
                        help="teacher checkpoint in upstream's layout (dict with 'state_dict'); "
                             "default: the checkout's checkpoints/pretrained/"
                             '<dataset>_<teacher>.pth')
    parser.add_argument('--val-subset', type=int,
                        help='with --data-root: evaluate on the first N test images only (CPU '
                             'smoke runs)')
    args = parser.parse_args(ours)
    temperature = dict(type='UniformTemperature', low=args.low, high=args.high) \
        if args.tau == 'stochastic' else dict(type='ConstantTemperature', tau=args.T)
    adapter = UpstreamCMIAdapter(args.root, temperature=temperature, seed=args.seed,
                                 work_dir=args.work_dir, data_root=args.data_root,
                                 teacher_ckpt=args.teacher_ckpt, val_subset=args.val_subset)
    totals = adapter.run(upstream)
    print(json.dumps({k: totals.get(k) for k in ('energy_kwh', 'co2_g', 'seconds', 'epochs',
                                                 'metric', 'tau')}, default=str))
    return totals


if __name__ == '__main__':
    main()
