"""CarbonFootprintHook on real mmengine runs (tiny MLP, see energy_helpers.py)."""
import ipaddress
import json
import os
import os.path as osp
import sys

import pytest
import torch
from mmengine.hooks import Hook

import mmkd_green  # noqa: F401  (registers the hooks)
from mmkd_green.energy import load_run_totals

from energy_helpers import build_runner
from rapl_helpers import add_joules, make_powercap

# ToyNet: Linear(16, 32) -> BN -> ReLU -> Linear(32, 4); FLOPs = 2 x MACs per sample
INFER = 2 * (16 * 32 + 32 * 4)                      # 1280
TRAIN = INFER + 2 * (32 * 4) * 2 + 2 * (16 * 32)    # + grads of layer 2 (input, weight), layer 1 weight
HOOKS = [dict(type='TemperatureHook'), dict(type='CarbonFootprintHook')]
UNIFORM = dict(type='UniformTemperature', low=2.0, high=20.0)


def _lines(work_dir):
    return [json.loads(line) for line in open(osp.join(work_dir, 'carbon', 'carbon.jsonl'))]


def test_epoch_run_writes_records_and_totals(tmp_path):
    runner = build_runner(tmp_path, HOOKS, epochs=2, temperature=UNIFORM)
    runner.train()
    lines = _lines(tmp_path)
    assert [r['type'] for r in lines] == ['start', 'epoch', 'val', 'predicted', 'epoch', 'val',
                                          'final']
    epochs = [r for r in lines if r['type'] == 'epoch']
    assert [r['epoch'] for r in epochs] == [1, 2]
    for r in epochs:
        assert r['train_flops'] == 64 * TRAIN and r['iters'] == 8 and r['samples'] == 64
        assert r['tau']['count'] == 8 and 2.0 <= r['tau']['min'] <= r['tau']['max'] <= 20.0
        assert sum(r['tau']['hist'].values()) == 8
        assert r['components']['cpu']['method'] in ('measured', 'estimated')
        assert r['pue'] == 1.67 and r['carbon_intensity'] == 475.0
        assert r['energy_kwh'] == pytest.approx(1.67 * r['energy_kwh_it'])
        assert r['co2_g'] == pytest.approx(475.0 * r['energy_kwh'])
    # each val record holds what the runner evaluated that epoch (the MessageHub's val history;
    # the visualizer's scalars.json is shared by runners created in the same second)
    val_acc = [float(v) for v in runner.message_hub.get_scalar('val/accuracy').data[0]]
    assert len(val_acc) == 2 and all(0.0 <= a <= 1.0 for a in val_acc)
    vals = [r["metrics"] for r in lines if r["type"] == "val"]
    assert vals == [{"accuracy": a} for a in val_acc]
    assert lines[0]['run_info']['sampler']['type'] == 'UniformTemperature'

    totals = load_run_totals(str(tmp_path))
    segs = [r for r in lines if r['type'] in ('epoch', 'final')]
    assert totals['energy_kwh'] == pytest.approx(sum(r['energy_kwh'] for r in segs))
    assert totals['co2_g'] == pytest.approx(sum(r['co2_g'] for r in segs))
    assert totals['train_flops'] == 2 * 64 * TRAIN
    assert totals['infer_flops_per_image'] == INFER
    assert totals['epochs'] == 2 and totals['finished'] and totals['tau']['count'] == 16
    assert totals['metric'] == lines[5]['metrics']
    summary = json.load(open(tmp_path / 'carbon' / 'summary.json'))
    assert summary['totals']['co2_g'] == pytest.approx(totals['co2_g'])
    backend = runner.visualizer.get_backend('LocalVisBackend')   # this runner's visualizer
    logged = [json.loads(line) for line in open(osp.join(backend._save_dir, 'scalars.json'))]
    keys = set().union(*logged)
    assert {'carbon/co2_g', 'carbon/energy_kwh', 'carbon/cum_co2_g', 'carbon/train_flops'} <= keys


def test_iteration_based_loop_writes_every_interval(tmp_path):
    build_runner(tmp_path, [dict(type='CarbonFootprintHook')], iters=10).train()
    segs = [r for r in _lines(tmp_path) if r['type'] in ('epoch', 'final')]
    assert [(r['type'], r['iter'], r['iters']) for r in segs] == [
        ('epoch', 4, 4), ('epoch', 8, 4), ('epoch', 10, 2), ('final', 10, 0)]
    assert [r['train_flops'] for r in segs[:3]] == [32 * TRAIN, 32 * TRAIN, 16 * TRAIN]
    assert load_run_totals(str(tmp_path))['train_flops'] == 80 * TRAIN


def test_hook_changes_no_numerics(tmp_path):
    """Same seed with and without the hook (FLOPs counted on real steps, and the inference count
    at the end in eval mode): identical weights and BatchNorm statistics."""
    states = []
    for name, hooks in (('bare', []), ('metered', [dict(type='CarbonFootprintHook')])):
        runner = build_runner(tmp_path / name, hooks, epochs=2, val=False)
        runner.train()
        assert runner.model.training                 # mode restored after the eval-mode count
        states.append({k: v.clone() for k, v in runner.model.state_dict().items()})
    assert states[0].keys() == states[1].keys()
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
    totals = load_run_totals(str(tmp_path / 'metered'))
    assert totals['infer_flops_per_image'] == INFER and totals['metric'] is None


class _BreakRapl(Hook):
    """Removes a RAPL counter before epoch 2: a real source failure mid-run."""

    def __init__(self, root):
        self.root = root

    def before_train_epoch(self, runner):
        if runner.epoch == 1:
            os.remove(osp.join(self.root, 'intel-rapl:1', 'energy_uj'))
        add_joules(self.root, 'intel-rapl:0', 50.0)


def test_meter_failure_never_stops_training(tmp_path, caplog):
    root = make_powercap(tmp_path / 'powercap')
    hooks = [_BreakRapl(root), dict(type='CarbonFootprintHook', rapl_root=root)]
    runner = build_runner(tmp_path / 'run', hooks, epochs=3, val=False)
    runner.train()
    assert runner.train_loop.epoch == 3
    segs = [r for r in _lines(tmp_path / 'run') if r['type'] == 'epoch']
    assert [r['measured'] for r in segs] == [True, False, False]
    assert segs[0]['components']['cpu'] == dict(energy_j=50.0, method='measured', source='rapl',
                                                detail=segs[0]['components']['cpu']['detail'])
    assert load_run_totals(str(tmp_path / 'run'))['unmeasured_segments'] == 3 - 1 + 1  # + final

    # the records' folder cannot be written: logged once, training still finishes
    bad = tmp_path / 'run2'
    bad.mkdir()
    (bad / 'carbon').write_text('a file where the folder should be')
    runner = build_runner(bad, [dict(type='CarbonFootprintHook')], epochs=2, val=False)
    runner.train()
    assert runner.train_loop.epoch == 2


def test_no_connection_to_a_non_loopback_address(tmp_path):
    """A real audit of socket.connect / getaddrinfo during a metered run (default settings)."""
    events, active = [], [True]
    carbontracker_before = any(m.startswith('carbontracker') for m in sys.modules)

    def audit(event, args):
        if active[0] and event in ('socket.connect', 'socket.getaddrinfo'):
            events.append((event, args[1] if event == 'socket.connect' else args[0]))

    sys.addaudithook(audit)
    try:
        build_runner(tmp_path, HOOKS, epochs=1, temperature=UNIFORM).train()
    finally:
        active[0] = False
    assert _lines(tmp_path)[-1]['type'] == 'final'
    if not carbontracker_before:   # its data tables are read as files, no module is imported
        assert not any(m.startswith('carbontracker') for m in sys.modules)
    for event, target in events:
        host = target[0] if isinstance(target, tuple) else target
        if isinstance(host, bytes):
            host = host.decode()
        if isinstance(host, str) and host.startswith('/'):
            continue   # AF_UNIX path
        assert host == 'localhost' or ipaddress.ip_address(host).is_loopback, (event, target)


def test_resumed_run_appends_and_counts_every_attempt(tmp_path):
    build_runner(tmp_path, HOOKS, epochs=2, val=False, temperature=UNIFORM).train()
    build_runner(tmp_path, HOOKS, epochs=3, val=False, temperature=UNIFORM, resume=True).train()
    lines = _lines(tmp_path)
    assert [r['epoch'] for r in lines if r['type'] == 'epoch'] == [1, 2, 3]
    totals = load_run_totals(str(tmp_path))
    assert totals['attempts'] == 2 and totals['epochs'] == 3 and totals['finished']
    assert totals['train_flops'] == 3 * 64 * TRAIN
    assert totals['co2_g'] == pytest.approx(
        sum(r['co2_g'] for r in lines if r['type'] in ('epoch', 'final')))


def test_stored_inference_sample_is_one_whole_sample_of_every_collate():
    """The sample the hook counts inference FLOPs on when no validation runs: a pseudo_collate
    (mmdet) batch keeps its first (C, H, W) image whole (slicing it left 1 channel and the
    detector's BGR→RGB step failed: IndexError, segment unmeasured)."""
    from mmkd_green.energy.hook import _first_sample
    x = torch.arange(6 * 3 * 4 * 4, dtype=torch.float32).view(6, 3, 4, 4)
    det = _first_sample(dict(inputs=list(x), data_samples=['a', 'b', 'c', 'd', 'e', 'f']))
    assert len(det['inputs']) == 1 and torch.equal(det['inputs'][0], x[0])
    assert det['data_samples'] == ['a']
    cls = _first_sample(dict(inputs=x, data_samples=['a'] * 6))
    assert torch.equal(cls['inputs'], x[:1])
    assert torch.equal(_first_sample([x, torch.arange(6)])[1], torch.arange(1))


def test_batch_size_of_every_collate_and_odd_batches():
    """The hook's per-iteration batch size: infer_batch_size (the usual collates by exact type
    first, then the general forms), an unreadable batch as unknown (None) instead of an
    error."""
    from mmkd_green.energy.hook import _batch_size
    from mmkd_green.temperature.hook import infer_batch_size
    x = torch.zeros(6, 3, 4, 4)
    batches = [dict(inputs=x, data_samples=[None] * 6),            # mmengine default
               dict(inputs=[x[0]] * 5, data_samples=[None] * 5),    # mmdet pseudo_collate
               [x, torch.zeros(6)], (x, torch.zeros(6)),            # torch default_collate
               [dict(a=1), dict(a=2), dict(a=3)],                   # a list of samples
               x]                                                   # a bare tensor
    for batch in batches:
        assert _batch_size(batch) == infer_batch_size(batch)
    assert [_batch_size(b) for b in batches] == [6, 5, 6, 6, 3, 6]
    for odd in (dict(data=x), [], dict(inputs=None), torch.tensor(3.0), 'text'):
        assert _batch_size(odd) is None
