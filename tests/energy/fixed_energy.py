"""A hook that spends a known energy on the RAPL fixture (rapl_fixture.py) in each phase of a run,
so predictions and budgets can be checked against closed-form totals.

Registered after ``CarbonFootprintHook`` at each stage (priority LOW, the meter's is VERY_HIGH):

* ``before_train``: ``startup`` J (start-up phase);
* ``before_train_iter``: ``per_iter`` J (train phase);
* ``after_val_iter``: ``per_val_iter`` J (validation phase);
* ``after_train_epoch``: ``gap`` J (after the epoch, like a checkpoint save).

Only rank 0 spends (the RAPL counters are host-wide, read once per host).
"""
from mmengine.hooks import Hook

from rapl_helpers import add_joules

ZONE = 'intel-rapl:0'     # package-0


class FixedEnergy(Hook):
    priority = 'LOW'

    def __init__(self, root, startup=0.0, per_iter=0.0, per_val_iter=0.0, gap=0.0):
        self.root, self.startup, self.per_iter = str(root), startup, per_iter
        self.per_val_iter, self.gap = per_val_iter, gap

    def _spend(self, runner, joules):
        if joules and runner.rank == 0:
            add_joules(self.root, ZONE, joules)

    def before_train(self, runner):
        self._spend(runner, self.startup)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._spend(runner, self.per_iter)

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._spend(runner, self.per_val_iter)

    def after_train_epoch(self, runner):
        self._spend(runner, self.gap)
