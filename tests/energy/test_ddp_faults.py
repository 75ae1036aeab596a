"""DDP with failing GPU readings: 2 real ranks (gloo on 127.0.0.1), each training with
CarbonFootprintHook through an mmengine Runner. Rank 0's NVML fails at start
(``nvmlDeviceGetName``), rank 1's energy counter fails once in the middle of the run. Both ranks
must finish every epoch and take part in every collective; rank 0's records must hold both
ranks' parts, consistently."""
import json
import os
import os.path as osp
import socket
import sys


from mmengine.hooks import Hook
from tests.fixtures import limits

EPOCHS, N, BATCH = 3, 32, 8
ITERS = N // BATCH
J_PER_ITER = 2.5


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class _GpuWork(Hook):
    """Stands in for the GPU drawing power: every train iteration adds J_PER_ITER to this rank's
    fake GPU; rank 1's counter errors once, at the end of epoch 2."""

    priority = 'LOWEST'

    def __init__(self, nv, rank):
        self.nv, self.rank = nv, rank

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.nv.gpus[self.rank].add_joules(J_PER_ITER)

    def before_train_epoch(self, runner):
        if self.rank == 1 and runner.epoch == 1:
            # CarbonFootprintHook's end-of-epoch reading is the next counter call
            self.nv.fail('nvmlDeviceGetTotalEnergyConsumption', calls={1})


def _worker(rank, world, port, work_dir, out_dir):
    sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    import torch.distributed as dist
    from tests.energy.fake_pynvml import FakeGpu, make_pynvml
    from mmkd_green.apis import shutdown_distributed
    from tests.energy.energy_helpers import build_runner
    import mmkd_green  # noqa: F401

    os.environ.update(MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port),
                      CUDA_VISIBLE_DEVICES=str(rank))          # each rank its own GPU
    nv = make_pynvml([FakeGpu('GPU-rank0'), FakeGpu('GPU-rank1')])
    if rank == 0:
        nv.fail('nvmlDeviceGetName')                           # rank 0: fails at start
    sys.modules['pynvml'] = nv
    dist.init_process_group('gloo', rank=rank, world_size=world)
    hooks = [dict(type='CarbonFootprintHook', gpu_devices=[0], poll_interval_s=0.05,
                  rapl_root=osp.join(out_dir, 'no-rapl'), cpu_power_per_core_w=5.0),
             _GpuWork(nv, rank)]
    runner = build_runner(work_dir, hooks, epochs=EPOCHS, val=False, n=N, batch_size=BATCH)
    runner.train()
    (carbon,) = [h for h in runner.hooks if type(h).__name__ == 'CarbonFootprintHook']
    with open(osp.join(out_dir, f'rank{rank}.json'), 'w') as f:
        json.dump(dict(epochs=runner.train_loop.epoch, segments=carbon.meter._segment,
                       gpu=carbon.meter.components['gpu']['method']), f)
    dist.barrier()
    del runner, carbon
    shutdown_distributed()   # frees the runner first: gloo must not outlive the interpreter


def test_failing_sources_on_two_ranks_never_hang_or_lose_records(tmp_path):
    work = tmp_path / 'run'
    limits.spawn(_worker, args=(2, _free_port(), str(work), str(tmp_path)), nprocs=2)
    ranks = [json.load(open(tmp_path / f'rank{r}.json')) for r in (0, 1)]
    assert [r['epochs'] for r in ranks] == [EPOCHS, EPOCHS]           # both trained to the end
    assert ranks[0]['segments'] == ranks[1]['segments'] == EPOCHS + 1  # same collectives
    assert [r['gpu'] for r in ranks] == ['unavailable', 'measured']

    lines = [json.loads(line) for line in open(work / 'carbon' / 'carbon.jsonl')]
    segs = [r for r in lines if r['type'] in ('epoch', 'final')]
    assert [r['type'] for r in segs] == ['epoch'] * EPOCHS + ['final']
    assert all(r['world_size'] == 2 and [p['rank'] for p in r['ranks']] == [0, 1] for r in segs)
    gpu_by_rank = [[p['energy_j'].get('gpu') for p in r['ranks']] for r in segs]
    per_epoch = J_PER_ITER * ITERS
    assert [g[0] for g in gpu_by_rank] == [None] * (EPOCHS + 1)         # rank 0: unavailable
    assert gpu_by_rank[0][1] == per_epoch and gpu_by_rank[2][1] == per_epoch
    assert gpu_by_rank[1][1] is None                                     # epoch 2 on rank 1
    assert gpu_by_rank[3][1] == 0.0
    gpu = [r['components']['gpu'] for r in segs]
    assert gpu[0]['method'] == 'mixed:measured+unavailable'
    assert 'nvmlDeviceGetName' in gpu[0]['detail']                     # rank 0's reason
    assert 'rank 1' in gpu[1]['error'] and 'GPU is lost' in gpu[1]['error']
    assert [g['energy_j'] for g in gpu] == [per_epoch, None, per_epoch, 0.0]
    # a GPU in use but not read on one rank: no record claims to be fully measured
    assert [r['measured'] for r in segs] == [False] * (EPOCHS + 1)
    # CPU (estimated per rank) was read on both ranks every epoch
    assert all(p['energy_j']['cpu'] is not None for r in segs for p in r['ranks'])
