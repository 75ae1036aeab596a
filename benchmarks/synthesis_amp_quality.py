"""Does autocast synthesis (``amp=True``: bf16 on this CPU) make images as good as fp32?

For each method and seed, one synthesis round of ``--iterations`` steps is run twice from the
same random state, once in fp32 and once with ``amp=True``, with the paper's WRN-40-2 teacher
and WRN-16-1 student (randomly initialised, the same weights in both arms, as in
``benchmarks/synthesis_speed.py``). The kept images of each arm are then scored in fp32 by the
teacher, i.e. by what the synthesis optimises:

* ``r_bn``: the BN-statistics loss ``Σ_l ‖μ_l − μ_run‖ + ‖σ²_l − σ²_run‖`` of the images;
* ``ce`` and ``acc``: the teacher's cross-entropy and top-1 agreement with the round's targets;

plus the wall seconds per step. JSON to stdout (and ``--out``)::

    python benchmarks/synthesis_amp_quality.py [--methods deepinversion cmi] [--seeds 0 1]
        [--iterations 50] [--batch 64] [--out result.json]
"""
import argparse
import os.path as osp
import statistics
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import mmkd_green  # noqa: E402,F401
from mmkd_green.classification import WideResNet  # noqa: E402
from mmkd_green.dfkd.synthesis.bn_hooks import bn_statistics_loss  # noqa: E402
from mmkd_green.registry import MODELS  # noqa: E402

SETTINGS = dict(  # as benchmarks/synthesis_speed.py (the CMI repo's WRN-40-2 scripts)
    cmi=dict(type='CMISynthesizer', lr=1e-3, adv=0.5, cr=0.8, cr_T=0.2, feature_bank_size=4096,
             n_neg=1024),
    deepinversion=dict(type='DeepInversionSynthesizer', lr=0.1, bn=10.0, adv=1.0, tv=1e-3))


def one_arm(method, seed, amp, a):
    torch.manual_seed(1234)                       # the networks: identical in both arms
    teacher = WideResNet(40, 2, 10).eval()
    student = WideResNet(16, 1, 10)
    synth = MODELS.build(dict(SETTINGS[method], num_classes=10, synthesis_batch_size=a.batch,
                              iterations=a.iterations, amp=amp)).bind(teacher, student)
    torch.manual_seed(seed)                       # the round: identical draws in both arms
    t0 = time.perf_counter()
    out = synth.synthesize()
    seconds = time.perf_counter() - t0
    x = synth.normalize(out['images'])
    with torch.no_grad():
        logits = teacher(x)
    return dict(r_bn=bn_statistics_loss(teacher, x),
                ce=float(F.cross_entropy(logits, out['targets'])),
                acc=float((logits.argmax(1) == out['targets']).float().mean()),
                seconds_per_step=seconds / a.iterations,
                final_losses=out['losses'])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--methods', nargs='+', default=['deepinversion', 'cmi'])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    p.add_argument('--iterations', type=int, default=50)
    p.add_argument('--batch', type=int, default=64)
    p.add_argument('--out')
    a = p.parse_args(argv)
    result = dict(benchmark='synthesis_amp_quality', config=vars(a), torch=torch.__version__,
                  threads=torch.get_num_threads())
    for method in a.methods:
        runs = []
        for seed in a.seeds:
            fp32, amp = one_arm(method, seed, False, a), one_arm(method, seed, True, a)
            runs.append(dict(seed=seed, fp32=fp32, amp=amp))
        summary = {}
        for key in ('r_bn', 'ce', 'acc', 'seconds_per_step'):
            summary[key] = dict(fp32=statistics.median(r['fp32'][key] for r in runs),
                                amp=statistics.median(r['amp'][key] for r in runs))
        summary['speedup'] = summary['seconds_per_step']['fp32'] / \
            summary['seconds_per_step']['amp']
        result[method] = dict(runs=runs, median=summary)
    from mmkd_green.energy.records import print_json
    print_json(result, a.out, indent=1)
    return result


if __name__ == '__main__':
    main()
