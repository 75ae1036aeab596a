"""FLOPs are counted once and re-used while the model and the input shapes stay the same."""
import json

import torch
from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

from mmkd_green.energy.flops import flop_cache_key

from energy_helpers import ToyNet, build_runner


def test_cache_key_follows_shapes_and_model():
    model = torch.nn.Linear(16, 4)
    batch = dict(inputs=torch.randn(8, 16), labels=torch.zeros(8, dtype=torch.long))
    same = dict(inputs=torch.randn(8, 16), labels=torch.ones(8, dtype=torch.long))
    assert flop_cache_key(model, batch) == flop_cache_key(model, same)
    assert flop_cache_key(model, batch) != flop_cache_key(model, dict(batch, inputs=torch.randn(4, 16)))
    assert flop_cache_key(model, batch) != flop_cache_key(torch.nn.Linear(16, 4), batch)
    assert flop_cache_key(model, batch) != flop_cache_key(model, dict(batch, inputs=batch['inputs'].double()))


def test_hook_counts_one_step_for_three_epochs(tmp_path, monkeypatch):
    counted_forwards = []
    forward = ToyNet.forward

    def watching(self, inputs, labels=None, mode='tensor'):   # observes, changes nothing
        if mode == 'loss':
            counted_forwards.append(any('FlopCounter' in type(m).__name__
                                        for m in _get_current_dispatch_mode_stack()))
        return forward(self, inputs, labels, mode)

    monkeypatch.setattr(ToyNet, 'forward', watching)
    runner = build_runner(tmp_path / 'run', [dict(type='CarbonFootprintHook')], epochs=3, val=False)
    runner.train()
    assert len(counted_forwards) == 3 * 8 and sum(counted_forwards) == 1   # only the first step
    lines = [json.loads(line) for line in open(tmp_path / 'run' / 'carbon' / 'carbon.jsonl')]
    flops = [r['train_flops'] for r in lines if r['type'] == 'epoch']
    assert len(flops) == 3 and flops[0] > 0 and len(set(flops)) == 1
