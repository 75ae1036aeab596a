"""Size of a data-free KD checkpoint at the end of a run with the paper's CMI settings.

Builds the distiller of ``configs/dfkd/cifar10_cmi_wrn40_2_wrn16_1_stochastic.py`` (WRN-40-2
teacher, WRN-16-1 student, CMI synthesizer: batch 256, feature bank 40 960 rows, head 256) and
brings it to the state after ``--rounds`` synthesis rounds (default 200: 200 epochs x one round,
upstream's cmi_cifar10.sh) without synthesizing: the banks are filled with random rows of the
real shapes (image bank: 256 uint8 images per round, all kept; feature bank: 256 rows of the
teacher's instance-feature width x 2 per round, FIFO), the head's and the student's optimizers
hold state (one step each). Then the checkpoint that mmengine's ``CheckpointHook`` writes
(``meta``, model ``state_dict`` incl. the synthesizer's ``_extra_state``, ``optim_wrapper``
state) is serialised with ``torch.save`` in memory, for both ``train_cfg.bank_storage`` modes:

* ``checkpoint``: the banks inside the checkpoint (only their filled parts);
* ``work_dir`` (default): round files referenced by path (``round_store.py``); the JSON also
  gives the size of one round file and of all of them (written once per run, not per checkpoint).

    python benchmarks/dfkd_checkpoint_size.py [--rounds 200] [--out result.json]

Prints JSON (bytes and MB = 1e6 bytes). Needs ~3 GB of RAM (the 886 MB feature bank and a copy).
"""
import argparse
import io
import os.path as osp
import sys
import tempfile

import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import mmkd_green  # noqa: E402,F401
from mmkd_green.dfkd import DataFreeDistiller  # noqa: E402
from mmkd_green.dfkd.synthesis.round_store import RoundStore  # noqa: E402


def serialized(obj) -> int:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.tell()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--rounds', type=int, default=200)
    parser.add_argument('--out')
    args = parser.parse_args(argv)
    from mmengine.config import Config
    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    cfg = Config.fromfile(osp.join(root, 'configs', 'dfkd',
                                   'cifar10_cmi_wrn40_2_wrn16_1_stochastic.py'))
    model_cfg = dict(cfg.model, teacher_ckpt=None)
    model_cfg.pop('type')
    torch.manual_seed(0)
    model = DataFreeDistiller(**model_cfg)
    synth = model.synthesizer
    n = synth.synthesis_batch_size
    g = torch.Generator().manual_seed(0)
    # the banks' state after `rounds` rounds of n (filled at once: same shapes and counters)
    synth.bank.add(torch.randint(0, 256, (args.rounds * n, *synth.img_size), dtype=torch.uint8,
                                 generator=g))
    fb = synth.feature_bank
    rows = min(args.rounds * n, fb.max_size)
    fb.data = torch.randn(rows, fb.dim, generator=g)
    fb.n_added, fb._ptr = args.rounds * n, (args.rounds * n) % fb.max_size
    synth.rounds = args.rounds
    for params, opt in ((list(synth.head.parameters()), synth.head_optimizer),):
        for p in params:
            p.grad = torch.zeros_like(p)
        opt.step()
    student_opt = torch.optim.SGD(model.student.parameters(), lr=0.1, momentum=0.9,
                                  weight_decay=1e-4)
    for p in model.student.parameters():
        p.grad = torch.zeros_like(p)
    student_opt.step()

    def checkpoint():
        return dict(meta=dict(epoch=args.rounds, iter=args.rounds * 400),
                    state_dict=model.state_dict(), optimizer=student_opt.state_dict(),
                    message_hub={}, param_schedulers=[])

    result = dict(rounds=args.rounds, synthesis_batch_size=n, images=len(synth.bank),
                  feature_rows=len(synth.feature_bank), feature_dim=synth.feature_bank.dim)
    synth.attach_store(None)
    result['checkpoint_bytes_bank_storage_checkpoint'] = serialized(checkpoint())
    with tempfile.TemporaryDirectory() as tmp:
        store = RoundStore(tmp)
        one = store.save(0, dict(images=synth.bank.images()[:n].clone(),
                                 features=synth.feature_bank.data[:n].to(torch.float16)))
        round_file = osp.getsize(one)
        synth.attach_store(store)
        synth.round_files = [osp.join(store.root, f'round_{i:06d}_{store.session}.pt')
                             for i in range(args.rounds)]
        result['checkpoint_bytes_bank_storage_work_dir'] = serialized(checkpoint())
    result['round_file_bytes'] = round_file
    result['round_files_total_bytes'] = round_file * args.rounds
    parts = dict(image_bank=synth.bank.images().numel(),
                 feature_bank_fp32=synth.feature_bank.data.numel() * 4,
                 head_params=sum(p.numel() * 4 for p in synth.head.parameters()),
                 head_adam_state=2 * sum(p.numel() * 4 for p in synth.head.parameters()),
                 generator_params=sum(p.numel() * 4 for p in synth.generator.parameters()),
                 student_params=sum(p.numel() * 4 for p in model.student.parameters()))
    result['MB'] = {k: round(v / 1e6, 1) for k, v in result.items() if k.endswith('bytes')
                    or k.endswith('_checkpoint') or k.endswith('work_dir')}
    result['parts_bytes'] = parts
    result['parts_MB'] = {k: round(v / 1e6, 1) for k, v in parts.items()}
    from mmkd_green.energy.records import print_json
    print_json(result, args.out, indent=1)
    return result


if __name__ == '__main__':
    main()
