"""KD iteration time vs (student-only iteration + teacher forward), measured in one run.

    python benchmarks/kd_iteration_time.py [--config configs/toy/ssd_kd_stochastic_toy.py]
        [--iters 20] [--warmup 3] [--batch-size 16] [--out kd_iteration_time.json]

Builds the distiller of ``--config`` (the teacher gets random weights saved to a temporary
checkpoint: timing does not depend on them) and a separate student from ``model.student``; both
train on the same real batches from a generated toy VOC set (through the config's train pipeline).
For every batch, in turn: one student-only ``train_step``, one teacher forward
(``SSDDistiller.teacher_outputs``: teacher preprocessing + forward, no grad) and one KD
``train_step``. Medians over ``--iters`` batches after ``--warmup``; prints JSON:
``kd_iter_s``, ``student_iter_s``, ``teacher_forward_s``, ``ratio = kd / (student + teacher)``,
``overhead_s = kd − (student + teacher)`` (anchor targets, KD loss). Default: the toy sizes.
"""
import argparse
import copy
import os.path as osp
import statistics
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from mmengine.optim import OptimWrapper  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from mmkd_green import apis  # noqa: E402
from mmkd_green.detection import make_toy_voc  # noqa: E402
from mmkd_green.detection.distiller import load_teacher_model_cfg  # noqa: E402
from mmkd_green.energy.records import print_json  # noqa: E402
from mmkd_green.temperature import publish_temperature  # noqa: E402


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', default='configs/toy/ssd_kd_stochastic_toy.py')
    p.add_argument('--iters', type=int, default=20)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--batch-size', type=int, default=None, help='default: the config\'s')
    p.add_argument('--tau', type=float, default=8.0, help='τ published for the KD steps')
    p.add_argument('--out', default=None, help='also write the JSON here')
    args = p.parse_args(argv)
    from mmdet.registry import MODELS
    init_default_scope('mmdet')
    torch.manual_seed(0)
    cfg = apis.load_config(args.config)
    with tempfile.TemporaryDirectory() as tmp:
        teacher = MODELS.build(load_teacher_model_cfg(cfg.model.teacher_config))
        ckpt = osp.join(tmp, 'teacher_random.pth')
        torch.save(dict(state_dict=teacher.state_dict()), ckpt)
        kd = MODELS.build(dict(cfg.model, teacher_ckpt=ckpt))
        kd.init_weights()
        student = MODELS.build(copy.deepcopy(cfg.model.student))
        student.load_state_dict(kd.student.state_dict())
        kd.train(), student.train()

        n_img = (args.iters + args.warmup) * (args.batch_size or cfg.train_dataloader.batch_size)
        make_toy_voc(tmp, num_trainval=max(n_img, 16), num_test=0, seed=0)
        loader_cfg = copy.deepcopy(cfg.train_dataloader)
        loader_cfg.dataset.update(data_root=tmp + '/', ann_file='VOC2007/ImageSets/Main/trainval.txt',
                                  data_prefix=dict(sub_data_root='VOC2007/'),
                                  metainfo=dict(classes=('circle', 'square', 'triangle')))
        loader_cfg.num_workers, loader_cfg.persistent_workers = 0, False
        if args.batch_size:
            loader_cfg.batch_size = args.batch_size
        loader = Runner.build_dataloader(loader_cfg)
        opt_kd = OptimWrapper(torch.optim.SGD(kd.parameters(), lr=1e-3, momentum=0.9))
        opt_s = OptimWrapper(torch.optim.SGD(student.parameters(), lr=1e-3, momentum=0.9))
        publish_temperature(args.tau)
        times = dict(kd=[], student=[], teacher=[])
        for i, batch in enumerate(loader):
            if i >= args.iters + args.warmup:
                break
            s = _timed(lambda: student.train_step(copy.deepcopy(batch), opt_s))
            data = kd.data_preprocessor(copy.deepcopy(batch), True)
            t = _timed(lambda: kd.teacher_outputs(data['inputs']))
            k = _timed(lambda: kd.train_step(copy.deepcopy(batch), opt_kd))
            if i >= args.warmup:
                times['student'].append(s), times['teacher'].append(t), times['kd'].append(k)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = dict(
        config=args.config, batch_size=loader_cfg.batch_size, input_size=list(kd.input_size),
        iters=len(times['kd']), warmup=args.warmup, torch_threads=torch.get_num_threads(),
        device='cpu', kd_iter_s=round(med['kd'], 4), student_iter_s=round(med['student'], 4),
        teacher_forward_s=round(med['teacher'], 4),
        ratio=round(med['kd'] / (med['student'] + med['teacher']), 3),
        overhead_s=round(med['kd'] - med['student'] - med['teacher'], 4))
    print_json(result, args.out)
    return result


if __name__ == '__main__':
    main()
