"""A tiny mmengine training (2-layer MLP on random data) for the energy tests and benchmark.

Run as a script for the crash test:
``python tests/energy/energy_helpers.py WORK_DIR EPOCHS SLEEP_S``.
"""
import sys
import time

import torch
import torch.nn as nn
from mmengine.evaluator import BaseMetric, Evaluator
from mmengine.model import BaseModel
from torch.utils.data import DataLoader, TensorDataset


class ToyNet(BaseModel):
    """``inputs`` (B, 16) -> 4 classes; optional sleep per train step (to slow a run down)."""

    def __init__(self, sleep_s: float = 0.0, width: int = 32):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, width), nn.BatchNorm1d(width), nn.ReLU(),
                                 nn.Linear(width, 4))
        self.sleep_s = sleep_s

    def forward(self, inputs, labels=None, mode='tensor'):
        logits = self.net(inputs)
        if mode == 'loss':
            if self.sleep_s:
                time.sleep(self.sleep_s)
            return dict(loss=nn.functional.cross_entropy(logits, labels))
        if mode == 'predict':
            return [dict(pred=logits.argmax(1), label=labels)]
        return logits


class ToyAccuracy(BaseMetric):
    def process(self, data_batch, data_samples):
        for s in data_samples:
            self.results.append(((s['pred'] == s['label']).float().mean().item(),))

    def compute_metrics(self, results):
        return dict(accuracy=sum(r[0] for r in results) / max(len(results), 1))


def loader(n=64, batch_size=8, seed=0, shuffle=False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 16, generator=g)
    y = torch.randint(0, 4, (n,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle)


def build_runner(work_dir, hooks=(), epochs=2, iters=None, val=True, sleep_s=0.0, n=64,
                 batch_size=8, temperature=None, width=32, log_interval=50, resume=False):
    """An mmengine Runner; ``iters`` switches to an IterBasedTrainLoop (val every 4 iters)."""
    from mmengine.runner import Runner
    if iters is None:
        train_cfg = dict(by_epoch=True, max_epochs=epochs, val_interval=1)
    else:
        train_cfg = dict(by_epoch=False, max_iters=iters, val_interval=4)
    kwargs = {}
    if val:
        kwargs = dict(val_dataloader=loader(16, 8, seed=1), val_cfg=dict(),
                      val_evaluator=Evaluator([ToyAccuracy()]))
    cfg = dict(temperature=temperature) if temperature is not None else None
    torch.manual_seed(0)   # the model is built here, before the Runner seeds
    runner = Runner(
        model=ToyNet(sleep_s, width), work_dir=str(work_dir),
        train_dataloader=loader(n, batch_size), train_cfg=train_cfg,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        custom_hooks=list(hooks),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=log_interval),
                           checkpoint=dict(type='CheckpointHook', interval=10 ** 6)),
        randomness=dict(seed=0), cfg=cfg, resume=resume, **kwargs)
    return runner


if __name__ == '__main__':   # crash test: a slow run that appends a line per epoch
    import mmkd_green  # noqa: F401
    work_dir, epochs, sleep_s = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    build_runner(work_dir, hooks=[dict(type='CarbonFootprintHook')], epochs=epochs,
                 val=False, sleep_s=sleep_s, log_interval=8).train()
