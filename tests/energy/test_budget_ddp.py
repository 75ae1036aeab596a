"""DDP (2 real processes, gloo on 127.0.0.1): every rank stops at the same epoch.

Only rank 0 sees energy (the RAPL fixture is host-wide and read by the host's lowest rank), so a
rank deciding alone would never stop; the decision is taken on the ranks' gathered ledgers."""
import json
import os
import os.path as osp
import socket


from rapl_helpers import make_powercap
from tests.fixtures import limits

EPOCH_J = 36000.0      # rank 0 spends 0.01 kWh per epoch (4 iterations per rank: 64 samples / 2)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _worker(rank, world, port, root, work_dir, out_dir):
    import torch.distributed as dist
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    import mmkd_green  # noqa: F401
    from tests.energy.fixed_energy import FixedEnergy
    from mmkd_green.apis import shutdown_distributed
    from tests.energy.energy_helpers import build_runner
    hooks = [dict(type='CarbonFootprintHook', rapl_root=root, pue=1.0, carbon_intensity=500.0,
                  count_flops=False, budget_kwh=0.025),
             FixedEnergy(root, per_iter=EPOCH_J / 4)]
    runner = build_runner(work_dir, hooks, epochs=4, val=True)
    runner.train()
    with open(osp.join(out_dir, f'rank{rank}.json'), 'w') as f:
        json.dump(dict(epoch=runner.train_loop.epoch, rank=runner.rank,
                       world=runner.world_size), f)
    del runner
    shutdown_distributed()   # frees the runner first: gloo must not outlive the interpreter


def test_every_rank_stops_at_the_same_epoch(tmp_path):
    root = make_powercap(tmp_path / 'powercap')
    work = tmp_path / 'run'
    limits.spawn(_worker, args=(2, _free_port(), root, str(work), str(tmp_path)), nprocs=2)
    ranks = [json.load(open(tmp_path / f'rank{r}.json')) for r in (0, 1)]
    assert [r['rank'] for r in ranks] == [0, 1] and ranks[0]['world'] == 2
    assert [r['epoch'] for r in ranks] == [1, 1]           # predicted 0.04 kWh > 0.025
    lines = [json.loads(line) for line in open(work / 'carbon' / 'carbon.jsonl')]
    (stop,) = [r for r in lines if r['type'] == 'budget_stop']
    assert stop['stops_after'] == dict(unit='epoch', value=1)
    assert stop['forecast']['energy_kwh'] > 0.025
    assert osp.isfile(work / 'epoch_1.pth')
    epochs = [r for r in lines if r['type'] == 'epoch']
    assert len(epochs) == 1 and epochs[0]['world_size'] == 2
