"""Data-free KD under DDP: 2 real ranks (torchrun via tools/dist_train.sh, gloo on localhost, CPU).

A tiny config on top of ``configs/dfkd/_base_/dfkd_runtime.py`` (toy 16x16 teacher/student from
dfkd_helpers) runs one epoch, then ``--resume`` runs a second. :class:`RankProbeHook` (imported by
the ranks from this file through ``custom_imports``) writes per-rank records into the work dir;
the test compares them across ranks:

* τ is the same on both ranks at every iteration (the sampler's pure function of (seed, iter));
* the student's parameters are identical on both ranks after every KD step (DDP's gradient
  all-reduce), and they do change;
* the ranks synthesize different images and draw different KD batches (per-rank seeds);
* the checkpoint carries rank 0's synthesizer state; after resume both ranks start from it and
  diverge again with the next synthesis round;
* the energy meter reads the (fake, ticking) host RAPL counter on rank 0 only, and rank 0 alone
  writes the carbon records and one summary.
"""
import glob
import hashlib
import json
import os
import os.path as osp
import sys
import threading

import pytest
import torch
from mmengine.hooks import Hook

from mmkd_green.registry import HOOKS

from dfkd_helpers import MEAN, NUM_CLASSES, SIZE, STD
from tests.fixtures import limits

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))
ROUND, EP_STEPS, KD_STEPS, BATCH = 16, 4, 2, 16     # 2 synthesis rounds + 4 KD steps per epoch


@HOOKS.register_module(force=True)
class RankProbeHook(Hook):
    """Per-rank records for the test (no collectives: a failing rank cannot hang the other)."""

    priority = 'LOWEST'

    def _path(self, runner, name):
        return osp.join(runner.work_dir, 'probe', f'rank{runner.rank}_{name}')

    @staticmethod
    def _synth(runner):
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        return model, model.synthesizer

    def before_train(self, runner):
        os.makedirs(osp.join(runner.work_dir, 'probe'), exist_ok=True)
        _, synth = self._synth(runner)
        torch.save(synth.bank.images().clone(), self._path(runner, f'bank_start_ep{runner.epoch}.pt'))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        from mmkd_green.temperature import get_current_temperature
        model, _ = self._synth(runner)
        params = torch.cat([p.detach().flatten() for p in model.student.parameters()])
        row = dict(iter=runner.iter, tau=float(get_current_temperature()),
                   params=hashlib.sha1(params.numpy().tobytes()).hexdigest(),
                   batch=hashlib.sha1(data_batch['inputs'].numpy().tobytes()).hexdigest())
        with open(self._path(runner, 'iters.jsonl'), 'a') as f:
            f.write(json.dumps(row) + '\n')

    def after_train_epoch(self, runner):
        _, synth = self._synth(runner)
        torch.save(synth.bank.images().clone(), self._path(runner, f'bank_ep{runner.epoch + 1}.pt'))


def _write_config(path, synthesizer, teacher_ckpt, rapl_root):
    if synthesizer == 'cmi':
        synth = dict(type='CMISynthesizer', lr=5e-2, adv=0.5, cr=0.8, cr_T=0.1,
                     generator=dict(type='DCGANGenerator', nz=16, ngf=8, img_size=SIZE),
                     feature_bank_size=256, n_neg=32, head_dim=16)
    else:
        synth = dict(type='DeepInversionSynthesizer', lr=0.1, bn=10.0, adv=1.0, tv=1e-3)
    synth.update(num_classes=NUM_CLASSES, img_size=(3, SIZE, SIZE), mean=MEAN, std=STD,
                 synthesis_batch_size=ROUND, iterations=3, kd_padding=2)
    cfg = f'''
_base_ = [{osp.join(ROOT, 'configs', 'dfkd', '_base_', 'dfkd_runtime.py')!r}]
custom_imports = dict(imports=['mmkd_green', 'dfkd_helpers', 'test_dfkd_distributed'],
                      allow_failed_imports=False)
model = dict(type='DataFreeDistiller', teacher=dict(type='TinyBNNet', width=8),
             student=dict(type='TinyBNNet', width=8), teacher_ckpt={teacher_ckpt!r},
             kd_loss=dict(type='HKDLoss', alpha=1.0), synthesizer={synth!r})
train_dataloader = dict(batch_size={BATCH})
train_cfg = dict(max_epochs=1, ep_steps={EP_STEPS}, kd_steps={KD_STEPS}, val_interval=1)
val_cfg = None
test_cfg = None
custom_hooks = [dict(type='TemperatureHook'),
                dict(type='CarbonFootprintHook', rapl_root={rapl_root!r}, poll_interval_s=0.2),
                dict(type='RankProbeHook')]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=1, max_keep_ckpts=3))
log_processor = dict(window_size=1)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
'''
    with open(path, 'w') as f:
        f.write(cfg)


class _TickingRapl:
    """A powercap fixture with one package zone whose counter a thread advances (5 W) while a
    run is in progress (``with rapl: ...``); ``uj``: the counter's total advance."""

    def __init__(self, root):
        self.zone = osp.join(root, 'intel-rapl:0')
        os.makedirs(self.zone)
        for name, value in (('name', 'package-0'), ('max_energy_range_uj', str(2 ** 40)),
                            ('energy_uj', '0')):
            with open(osp.join(self.zone, name), 'w') as f:
                f.write(value + '\n')
        self.uj = 0

    def _tick(self):
        while not self._stop.wait(0.01):
            self.uj += 50_000
            tmp = osp.join(self.zone, 'energy_uj.tmp')
            with open(tmp, 'w') as f:
                f.write(f'{self.uj}\n')
            os.replace(tmp, osp.join(self.zone, 'energy_uj'))

    def __enter__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tick, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _dist_train(cfg, work_dir, rapl, port, *args):
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(port), OMP_NUM_THREADS='1',
               CUDA_VISIBLE_DEVICES='',
               PYTHONPATH=os.pathsep.join([HERE, os.environ.get('PYTHONPATH', '')]))
    cmd = ['bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', work_dir, *args]
    with rapl:
        proc = limits.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    tail = proc.stdout[-3000:] + proc.stderr[-6000:]
    if proc.returncode and 'terminate called without an active exception' in proc.stderr:
        pytest.fail('a rank aborted (SIGABRT) at interpreter exit: a gloo worker thread released '
                    'the last collective\'s tensors after Python began finalizing; the training '
                    'entry point must free the runner and call destroy_process_group() before '
                    'exiting\n' + tail)
    assert proc.returncode == 0, tail
    return proc


def _iters(work_dir, rank):
    with open(osp.join(work_dir, 'probe', f'rank{rank}_iters.jsonl')) as f:
        return [json.loads(line) for line in f]


def _bank(work_dir, rank, name):
    return torch.load(osp.join(work_dir, 'probe', f'rank{rank}_{name}.pt'))


@pytest.mark.parametrize('synthesizer', ['cmi', 'deepinversion'])
def test_dfkd_two_ranks_train_and_resume(synthesizer, toy_teacher, tmp_path, free_port):
    from mmkd_green.temperature import UniformTemperature
    teacher_ckpt = str(tmp_path / 'teacher.pth')
    torch.save(toy_teacher.state_dict(), teacher_ckpt)
    cfg, work_dir, rapl_root = str(tmp_path / 'cfg.py'), str(tmp_path / 'work'), str(tmp_path / 'rapl')
    _write_config(cfg, synthesizer, teacher_ckpt, rapl_root)
    rapl = _TickingRapl(rapl_root)

    # -- epoch 1 ---------------------------------------------------------------------------
    _dist_train(cfg, work_dir, rapl, free_port())
    ckpt = torch.load(osp.join(work_dir, 'epoch_1.pth'), map_location='cpu', weights_only=False)
    assert ckpt['meta']['epoch'] == 1 and ckpt['meta']['iter'] == EP_STEPS
    banks = [_bank(work_dir, r, 'bank_ep1') for r in (0, 1)]
    assert banks[0].shape == banks[1].shape == (2 * ROUND, 3, SIZE, SIZE)
    assert not torch.equal(banks[0], banks[1]), 'both ranks synthesized the same images'
    # the checkpoint holds rank 0's synthesizer state: references to rank 0's round files
    synth_state = ckpt['state_dict']['_extra_state']['synthesizer']
    files = synth_state['_extra_state']['round_files']
    assert all(osp.dirname(f) == osp.join(str(work_dir), 'synthesis_rounds', 'rank0')
               for f in files)
    assert torch.equal(torch.cat([torch.load(f)['images'] for f in files]), banks[0])
    assert osp.isfile(osp.join(work_dir, 'synthetic', 'epoch_1.png'))   # rank 0's grid

    # -- resume for a second epoch ----------------------------------------------------------
    _dist_train(cfg, work_dir, rapl, free_port(), '--resume', '--cfg-options',
                'train_cfg.max_epochs=2')
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))
    for r in (0, 1):   # every rank restarts from the checkpoint (rank 0's) bank ...
        assert torch.equal(_bank(work_dir, r, 'bank_start_ep1'), banks[0])
    ends = [_bank(work_dir, r, 'bank_ep2') for r in (0, 1)]
    assert ends[0].shape[0] == ends[1].shape[0] == 4 * ROUND
    assert torch.equal(ends[0][:2 * ROUND], banks[0]) and torch.equal(ends[1][:2 * ROUND], banks[0])
    assert not torch.equal(ends[0][2 * ROUND:], ends[1][2 * ROUND:])   # ... and diverges again

    # -- per iteration: same τ and same student on both ranks, different KD batches ----------
    rows = [_iters(work_dir, r) for r in (0, 1)]
    assert [row['iter'] for row in rows[0]] == [row['iter'] for row in rows[1]] == \
        list(range(2 * EP_STEPS))
    sampler = UniformTemperature(low=2.0, high=20.0, seed=0)        # dfkd_runtime: seed 0
    for a, b in zip(*rows):
        assert a['tau'] == b['tau'] == pytest.approx(sampler(a['iter']))
        assert a['params'] == b['params'], f'student parameters differ at iter {a["iter"]}'
        assert a['batch'] != b['batch'], f'both ranks drew the same KD batch at iter {a["iter"]}'
    assert len({row['params'] for row in rows[0]}) == 2 * EP_STEPS   # every step updates it

    # -- energy: host counter read once (rank 0), records and summary by rank 0 only ---------
    with open(osp.join(work_dir, 'carbon', 'carbon.jsonl')) as f:
        records = [json.loads(line) for line in f]
    assert [r['type'] for r in records] == ['start', 'epoch', 'final'] * 2
    assert [r['epoch'] for r in records if r['type'] == 'epoch'] == [1, 2]
    segments = [r for r in records if r['type'] != 'start']
    for r in segments:
        assert r['world_size'] == 2 and r['measured']
        assert r['components']['cpu']['method'] == 'measured'
        assert [p['rank'] for p in r['ranks']] == [0, 1]
        assert r['ranks'][1]['energy_j']['cpu'] == 0.0       # the other rank reports 0 J
    total_j = sum(r['components']['cpu']['energy_j'] for r in segments)
    assert 0 < total_j <= rapl.uj / 1e6                      # at most what the counter advanced
    with open(osp.join(work_dir, 'carbon', 'summary.json')) as f:
        totals = json.load(f)['totals']
    assert totals['epochs'] == 2 and totals['attempts'] == 2 and totals['finished']
    assert totals['components']['cpu']['energy_j'] == pytest.approx(total_j)
    assert totals['train_flops'] > 0 and totals['tau']['count'] == 2 * 2 * EP_STEPS
    assert glob.glob(osp.join(work_dir, '**', 'summary*.json'), recursive=True) == \
        [osp.join(work_dir, 'carbon', 'summary.json')]
