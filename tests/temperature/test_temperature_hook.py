"""TemperatureHook in real runs: configuration errors name the fix; per-sample τ reaches the hub."""
import pytest

from mmkd_green import apis
from mmkd_green.utils.hub_keys import TAU_INFO_KEY


def _cfg(tmp_path, repo_root, **over):
    cfg = apis.load_config(f'{repo_root}/tests/fixtures/toy_kd_config.py', work_dir=tmp_path,
                           cfg_options=over)
    return apis.set_epochs(cfg, 1)


def test_two_temperature_hooks_rejected(tmp_path, repo_root):
    cfg = _cfg(tmp_path, repo_root)
    cfg.custom_hooks = [dict(type='TemperatureHook'), dict(type='TemperatureHook')]
    with pytest.raises(ValueError, match='Exactly one TemperatureHook'):
        apis.build_runner(cfg).train()


def test_missing_sampler_config_explains_fix(tmp_path, repo_root):
    cfg = _cfg(tmp_path, repo_root)
    cfg.pop('temperature')
    with pytest.raises(ValueError, match='temperature = dict'):
        apis.build_runner(cfg).train()


def test_invalid_tau_range_fails_at_start(tmp_path, repo_root):
    cfg = _cfg(tmp_path, repo_root)
    cfg.temperature = dict(type='UniformTemperature', low=30.0, high=20.0)
    with pytest.raises(ValueError, match='`low`'):
        apis.build_runner(cfg).train()


def test_per_sample_sampler_in_a_run(tmp_path, repo_root):
    cfg = _cfg(tmp_path, repo_root)
    cfg.temperature = dict(type='PerSampleUniformTemperature', low=2.0, high=20.0)
    runner = apis.build_runner(cfg)
    runner.train()
    tau = runner.message_hub.get_info(TAU_INFO_KEY)
    assert tau.shape == (16,)


def test_unknown_sampler_lists_registered_ones(tmp_path, repo_root):
    cfg = _cfg(tmp_path, repo_root)
    cfg.temperature = dict(type='GaussianTemperature')
    with pytest.raises(KeyError, match='UniformTemperature'):
        apis.build_runner(cfg).train()
