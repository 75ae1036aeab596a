"""DDP: 2 real processes (gloo on 127.0.0.1): host energy counted once, totals = sum of ranks."""
import json
import os
import os.path as osp

import pytest

from rapl_helpers import add_joules, make_powercap
from tests.fixtures import limits


def _worker(rank, world, port, root, out_dir):
    import torch.distributed as dist
    from mmkd_green.energy import EnergyMeter
    from mmkd_green.energy.sources import process_cpu_seconds
    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    dist.init_process_group('gloo', rank=rank, world_size=world)
    # host counters (RAPL fixture shared by both ranks, as on one machine)
    meter = EnergyMeter(rapl_root=root, gpu_devices=None).start()
    dist.barrier()
    if rank == 0:
        add_joules(root, 'intel-rapl:0', 100.0)
        add_joules(root, 'intel-rapl:0:2', 10.0)
    dist.barrier()
    host = meter.epoch_end(train_flops=1000 * (rank + 1), iters=5, samples=40)
    meter.stop()
    # no RAPL: each rank estimates its own process's CPU time
    meter = EnergyMeter(rapl_root=osp.join(root, 'absent'), gpu_devices=None,
                        cpu_power_per_core_w=10.0).start()
    t0 = process_cpu_seconds()
    while process_cpu_seconds() - t0 < 0.15 * (rank + 1):
        sum(i * i for i in range(20000))
    est = meter.epoch_end()
    meter.stop()
    with open(osp.join(out_dir, f'rank{rank}.json'), 'w') as f:
        json.dump(dict(host=host, est=est), f)
    dist.destroy_process_group()


def test_two_ranks_host_once_totals_summed(tmp_path, free_port):
    root = make_powercap(tmp_path / 'powercap')
    limits.spawn(_worker, args=(2, free_port(), root, str(tmp_path)), nprocs=2)
    r0, r1 = (json.load(open(tmp_path / f'rank{r}.json')) for r in (0, 1))

    host = r0['host']                       # rank 0: the reduced record
    assert host['world_size'] == 2
    assert host['components']['cpu']['energy_j'] == pytest.approx(100.0)   # not 200
    assert host['components']['dram']['energy_j'] == pytest.approx(10.0)
    by_rank = {r['rank']: r['energy_j'] for r in host['ranks']}
    assert by_rank[0]['cpu'] == pytest.approx(100.0) and by_rank[1]['cpu'] == 0.0
    assert host['train_flops'] == 3000 and host['iters'] == 10 and host['samples'] == 80
    assert r1['host']['components']['cpu']['energy_j'] == 0.0   # rank 1's local record

    est = r0['est']
    per_rank = [r['energy_j']['cpu'] for r in est['ranks']]
    assert per_rank[1] == pytest.approx(r1['est']['components']['cpu']['energy_j'])
    assert min(per_rank) >= 1.5 and per_rank[1] >= 3.0      # 10 W x 0.15 s / 0.3 s of CPU
    assert est['components']['cpu']['energy_j'] == pytest.approx(sum(per_rank))
    assert est['components']['cpu']['method'] == 'estimated'
    assert est['energy_j_it'] == pytest.approx(sum(per_rank))
