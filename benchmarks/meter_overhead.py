"""Overhead of CarbonFootprintHook per training iteration, as a ratio to the bare iteration.

Measured in one process, in one metered training run plus interleaved step pairs on the same
model and batch right after it (a shared, loaded machine makes whole-run A/B timings too noisy to
resolve fractions of a percent; the A/B figure is printed as a cross-check only):

    per_iter    = median time inside the hook's before/after_train_iter        (every iteration)
                  + the extra time of each epoch's first iteration / iterations
                  - the median of the same in a second run where those two methods are empty,
                  timed the same way at the same place (the timer's own cost there: the hook's
                  methods are the first Python code after the optimizer step, when caches are
                  cold, and a pair of clock reads costs ~10 µs at that place, ~2 µs later on)
    flop_extra  = median over K pairs of (train step inside the FLOP counter - plain train step)
                                            (x counted steps: the hook counts a step again only
                                             when the input shapes or the model change)
    per_epoch   = mean time inside before/after_train_epoch (meter read, record line, scalars)
    per_run     = time inside before_run + after_run (meter start/stop, summary)
                  + CPU time of the background thread that fsyncs the records (added to both
                  clocks: on a busy machine it takes a core from training)
    overhead    = per_iter + per_epoch / iters_per_epoch + flop_extra * counted_steps / iters
                  + per_run / iters
    bare        = median over the run's uncounted iterations of (iteration time - the hook's
                  timed spans)
    ratio       = overhead / bare
    ratio_steady = (overhead - per_run / iters) / bare   (a long run: the start-up cost vanishes)

Iteration time = from the first ``before_train_iter`` hook to the last ``after_train_iter`` hook
(two timing hooks at HIGHEST / LOWEST priority). TemperatureHook is in every run, so only the
carbon hook differs.

    python benchmarks/meter_overhead.py [--epochs 3] [--iters 100] [--pairs 15] [--rounds 0]

Both clocks are reported: wall time and this process's CPU time (the latter is far less
sensitive to other processes on a shared machine).

Prints one JSON object.
"""
import argparse
import functools
import json
import os.path as osp
import statistics
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.model import BaseModel  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import mmkd_green  # noqa: E402,F401

HOOK_METHODS = ('before_run', 'after_run', 'before_train_epoch', 'after_train_epoch',
                'before_train_iter', 'after_train_iter', 'before_val_iter', 'after_val_iter',
                'after_val_epoch')


class SmallCNN(BaseModel):
    """A CIFAR-sized conv net (3 conv + BN + linear), 32x32 inputs."""

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

    def forward(self, inputs, labels=None, mode='tensor'):
        logits = self.net(inputs)
        if mode == 'loss':
            return dict(loss=nn.functional.cross_entropy(logits, labels))
        return logits


def clocks():
    """(wall seconds, this process's CPU seconds): CPU time is far less sensitive to other
    processes on a shared machine."""
    return time.perf_counter(), time.process_time()


def delta(t0, t1):
    return t1[0] - t0[0], t1[1] - t0[1]


class IterStart(Hook):
    priority = 'HIGHEST'

    def __init__(self, log):
        self.log = log

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.log.append([clocks(), None])


class IterEnd(Hook):
    priority = 'LOWEST'

    def __init__(self, log):
        self.log = log

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.log[-1][1] = clocks()


def build(work_dir, metered, iters, epochs, log):
    from mmengine.runner import Runner
    torch.manual_seed(0)
    x, y = torch.randn(iters * 32, 3, 32, 32), torch.randint(0, 10, (iters * 32,))
    hooks = [dict(type='TemperatureHook'), IterStart(log), IterEnd(log)]
    if metered:
        hooks.append(dict(type='CarbonFootprintHook'))
    return Runner(model=SmallCNN(), work_dir=work_dir,
                  train_dataloader=DataLoader(TensorDataset(x, y), batch_size=32),
                  train_cfg=dict(by_epoch=True, max_epochs=epochs),
                  optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
                  custom_hooks=hooks, cfg=dict(temperature=dict(type='UniformTemperature')),
                  default_hooks=dict(logger=dict(type='LoggerHook', interval=10 ** 6),
                                     checkpoint=dict(type='CheckpointHook', interval=10 ** 6)),
                  randomness=dict(seed=0), log_level='WARNING')


def _empty_iter_method(runner, batch_idx, data_batch=None, outputs=None):
    pass


def time_hook_methods(runner, empty_iter_methods=False):
    """Wrap the carbon hook's methods on the instance; returns {method: [seconds, ...]}.
    ``empty_iter_methods``: its before/after_train_iter do nothing (the timer calibration)."""
    from mmkd_green.energy import CarbonFootprintHook
    (hook,) = [h for h in runner.hooks if isinstance(h, CarbonFootprintHook)]
    spent = {name: [] for name in HOOK_METHODS}
    if empty_iter_methods:
        hook.before_train_iter = hook.after_train_iter = _empty_iter_method

    def timed(name, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            t0 = clocks()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name].append(delta(t0, clocks()))
        return wrapper

    for name in HOOK_METHODS:
        setattr(hook, name, timed(name, getattr(hook, name)))
    spent['flop_counted_steps'] = []
    enter = hook._flops.enter

    def counted_enter():
        spent['flop_counted_steps'].append(1)
        return enter()
    hook._flops.enter = counted_enter
    return spent


def run_once(metered, iters, epochs, empty_iter_methods=False, timed=True):
    from mmkd_green.energy.records import background_fsync_cpu_seconds, wait_durable
    log = []
    with tempfile.TemporaryDirectory() as work_dir:
        runner = build(work_dir, metered, iters, epochs, log)
        spent = time_hook_methods(runner, empty_iter_methods) if metered and timed else None
        fsync_cpu = background_fsync_cpu_seconds()
        t0 = time.perf_counter()
        runner.train()
        wall = time.perf_counter() - t0
        wait_durable()
        if spent is not None:
            spent['background_fsync_s'] = background_fsync_cpu_seconds() - fsync_cpu
    durations = [delta(a, b) for a, b in log]
    return wall, durations, spent


def flop_counter_extra(pairs):
    """Median extra seconds of a train step inside StepFlopCounter, interleaved pairs."""
    from mmengine.optim import OptimWrapper
    from mmkd_green.energy import StepFlopCounter
    torch.manual_seed(0)
    model = SmallCNN()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.01))
    batch = dict(inputs=torch.randn(32, 3, 32, 32), labels=torch.randint(0, 10, (32,)))
    counter = StepFlopCounter()

    def step(counted):
        t0 = clocks()
        if counted:
            counter.enter()
        model.train_step(batch, wrapper)
        if counted:
            counter.exit()
        return delta(t0, clocks())

    step(False), step(True)   # warm-up
    diffs = []
    for i in range(pairs):
        if i % 2:
            plain, counted = step(False), step(True)
        else:
            counted, plain = step(True), step(False)
        diffs.append((counted[0] - plain[0], counted[1] - plain[1]))
    return [statistics.median(d[k] for d in diffs) for k in (0, 1)]


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('--epochs', type=int, default=3)
    parser.add_argument('--iters', type=int, default=100, help='iterations per epoch')
    parser.add_argument('--pairs', type=int, default=15, help='FLOP-counter timing pairs')
    parser.add_argument('--rounds', type=int, default=0,
                        help='extra bare/metered A/B rounds (whole-run wall time cross-check)')
    args = parser.parse_args(argv)
    n = args.iters * args.epochs

    _, durations, spent = run_once(True, args.iters, args.epochs)   # first: a cold process
    _, _, calibration = run_once(True, args.iters, args.epochs, empty_iter_methods=True)
    counted = set(range(0, n, args.iters))          # the first iteration of every epoch
    flop = flop_counter_extra(args.pairs)
    result = {}
    for k, clock in enumerate(('wall', 'cpu')):
        spans = [b[k] + a[k] for b, a in zip(spent['before_train_iter'],
                                              spent['after_train_iter'])]
        timer = statistics.median(b[k] + a[k] for b, a in zip(
            calibration['before_train_iter'], calibration['after_train_iter']))
        # medians (a preempted iteration in either run says nothing about the hook), plus the
        # extra work of each epoch's first iteration (arming, FLOP counter), counted in full
        steady = statistics.median(t for i, t in enumerate(spans) if i not in counted)
        first = sum(spans[i] - steady for i in counted)
        per_iter = max(steady - timer, 0.0) + first / n
        bare = statistics.median(d[k] - spans[i] for i, d in enumerate(durations)
                                 if i not in counted)
        per_epoch = statistics.mean(b[k] + a[k] for b, a in zip(spent['before_train_epoch'],
                                                                spent['after_train_epoch']))
        per_run = sum(t[k] for t in spent['before_run'] + spent['after_run']) \
            + spent['background_fsync_s']
        steps = len(spent['flop_counted_steps'])
        overhead = per_iter + per_epoch / args.iters + flop[k] * steps / n + per_run / n
        steady = overhead - per_run / n
        result[clock] = dict(bare_iter_s=bare, with_hook_iter_s=bare + overhead,
                             hook_overhead_per_iter_s=overhead, ratio=overhead / bare,
                             ratio_steady=steady / bare,
                             flop_counted_steps=steps,
                             timer_per_iter_s=timer,
                             components_s=dict(per_iter_hook_calls=per_iter,
                                               flop_counted_step_extra=flop[k],
                                               per_epoch_hook_calls=per_epoch,
                                               per_run_hook_calls=per_run,
                                               background_fsync_cpu=spent[
                                                   'background_fsync_s']))

    ab = {'bare': [], 'metered': []}
    for r in range(args.rounds):   # alternating order, hook methods not wrapped
        for metered in ((False, True) if r % 2 == 0 else (True, False)):
            wall, _, _ = run_once(metered, args.iters, args.epochs, timed=False)
            ab['metered' if metered else 'bare'].append(wall / n)

    print(json.dumps(dict(
        setup=dict(model='SmallCNN (3 conv + BN), batch 32 x 3x32x32, CPU', epochs=args.epochs,
                   iters_per_epoch=args.iters, torch_threads=torch.get_num_threads(),
                   flop_pairs=args.pairs),
        ratio_cpu=result['cpu']['ratio'], ratio_wall=result['wall']['ratio'],
        ratio_steady_cpu=result['cpu']['ratio_steady'],
        ratio_steady_wall=result['wall']['ratio_steady'],
        cpu_time=result['cpu'], wall_time=result['wall'],
        ab_cross_check_wall_per_iter=dict(
            bare_s=statistics.median(ab['bare']), metered_s=statistics.median(ab['metered']),
            ratios=[m / b for b, m in zip(ab['bare'], ab['metered'])],
            rounds=args.rounds, note='whole-run wall times; noisy on a shared machine')
        if args.rounds else None), indent=2))


if __name__ == '__main__':
    main()
