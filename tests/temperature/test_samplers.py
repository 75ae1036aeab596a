import math
import sys

import numpy as np
import pytest
import torch
from scipy import stats

from mmkd_green.registry import TEMPERATURE_SAMPLERS
from mmkd_green.temperature import (ConstantTemperature, CosineTemperature,
                                    PerSampleUniformTemperature, UniformTemperature)
from tests.fixtures import limits


def test_registry_builds_every_sampler():
    for cfg in [dict(type='ConstantTemperature', tau=4), dict(type='UniformTemperature'),
                dict(type='PerSampleUniformTemperature', low=1, high=3),
                dict(type='CosineTemperature', start=20, end=2, total_iters=10)]:
        assert type(TEMPERATURE_SAMPLERS.build(cfg)).__name__ == cfg['type']


def test_uniform_range_and_defaults():
    s = UniformTemperature(seed=3)
    assert (s.low, s.high, s.discrete) == (2.0, 20.0, False)
    draws = np.array([s(i) for i in range(2000)])
    assert draws.min() >= 2.0 and draws.max() <= 20.0
    assert len(np.unique(draws)) == 2000     # continuous


def test_uniform_is_pure_function_of_seed_and_iteration():
    a, b = UniformTemperature(seed=7), UniformTemperature(seed=7)
    forward = [a(i) for i in range(50)]
    backward = [b(i) for i in reversed(range(50))][::-1]
    assert forward == backward                      # order of calls does not matter
    assert a(10) == a(10)                           # no hidden state
    assert UniformTemperature(seed=8)(10) != a(10)  # the seed matters


def test_uniform_statistically_uniform_ks():
    s = UniformTemperature(low=2, high=20, seed=0)
    draws = np.array([s(i) for i in range(10_000)])
    result = stats.kstest(draws, stats.uniform(loc=2, scale=18).cdf)
    assert result.pvalue > 1e-3, result
    assert abs(draws.mean() - 11.0) < 0.2


def test_discrete_covers_2_to_20_uniformly():
    s = UniformTemperature(low=2, high=20, discrete=True, seed=1)
    draws = np.array([s(i) for i in range(10_000)])
    values, counts = np.unique(draws, return_counts=True)
    assert values.tolist() == list(range(2, 21))
    assert stats.chisquare(counts).pvalue > 1e-3


def test_per_sample_tensor_equals_pure_function():
    s = PerSampleUniformTemperature(low=2, high=20, seed=5)
    tau = s(12, batch_size=6)
    assert tau.shape == (6,) and tau.dtype == torch.float32
    assert torch.equal(tau, s(12, batch_size=6))
    # sample j depends on (seed, iteration, j) only: a larger batch extends the same stream
    assert torch.equal(s(12, batch_size=9)[:6], tau)
    assert not torch.equal(s(13, batch_size=6), tau)
    with pytest.raises(ValueError, match='batch size'):
        s(0)


def test_constant_and_cosine():
    assert ConstantTemperature(8)(123) == 8.0
    c = CosineTemperature(start=20, end=2, total_iters=100)
    assert c(0) == pytest.approx(20) and c(100) == pytest.approx(2) and c(500) == pytest.approx(2)
    assert c(50) == pytest.approx(11)
    assert all(c(i) >= c(i + 1) for i in range(100))


@pytest.mark.parametrize('kwargs,param', [
    (dict(low=0.0, high=20), 'low'), (dict(low=-1, high=20), 'low'),
    (dict(low=2, high=math.inf), 'high'), (dict(low=math.nan, high=3), 'low'),
])
def test_invalid_range_names_parameter(kwargs, param):
    with pytest.raises(ValueError, match=f'`{param}`'):
        UniformTemperature(**kwargs)


def test_invalid_settings():
    with pytest.raises(ValueError, match='`low` .* <= `high`'):
        UniformTemperature(low=5, high=2)
    with pytest.raises(ValueError, match='integer'):
        UniformTemperature(low=2.2, high=2.8, discrete=True)
    with pytest.raises(ValueError, match='`tau`'):
        ConstantTemperature(0)
    with pytest.raises(ValueError, match='`start`'):
        CosineTemperature(start=-1, end=2, total_iters=3)
    with pytest.raises(ValueError, match='`seed`'):
        UniformTemperature(seed=-4)


CHILD = ('import sys; sys.path.insert(0, {root!r});'
         'from mmkd_green.temperature import UniformTemperature, PerSampleUniformTemperature;'
         'u = UniformTemperature(seed=42); p = PerSampleUniformTemperature(seed=42);'
         'print(repr([u(i) for i in range(20)] + p(3, 4).tolist()))')


def test_same_values_in_independent_processes(repo_root):
    outs = set()
    for hash_seed in ('0', '12345'):
        env = {'PYTHONHASHSEED': hash_seed, 'PATH': '/usr/bin:/bin'}
        outs.add(limits.check_output([sys.executable, '-c', CHILD.format(root=repo_root)],
                                     env=env, text=True))
    assert len(outs) == 1
    u = UniformTemperature(seed=42)
    assert outs.pop().strip() == repr([u(i) for i in range(20)] +
                                      PerSampleUniformTemperature(seed=42)(3, 4).tolist())
