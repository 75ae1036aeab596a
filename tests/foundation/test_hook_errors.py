import pytest
from mmengine.config import Config
from mmengine.runner import Runner


def _cfg(tmp_path, repo_root, **over):
    cfg = Config.fromfile(f'{repo_root}/tests/fixtures/toy_kd_config.py')
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1)
    cfg.merge_from_dict(over)
    return cfg


def test_two_temperature_hooks_rejected(tmp_path, repo_root):
    cfg = _cfg(tmp_path, repo_root)
    cfg.custom_hooks = [dict(type='TemperatureHook'), dict(type='TemperatureHook')]
    with pytest.raises(ValueError, match='Exactly one TemperatureHook'):
        Runner.from_cfg(cfg).train()


def test_missing_sampler_config_explains_fix(tmp_path, repo_root):
    cfg = _cfg(tmp_path, repo_root)
    cfg.pop('temperature')
    with pytest.raises(ValueError, match='temperature = dict'):
        Runner.from_cfg(cfg).train()


def test_invalid_tau_range_fails_at_start(tmp_path, repo_root):
    cfg = _cfg(tmp_path, repo_root)
    cfg.temperature = dict(type='UniformTemperature', low=30.0, high=20.0)
    with pytest.raises(ValueError, match='`low`'):
        Runner.from_cfg(cfg).train()


def test_per_sample_sampler_in_a_run(tmp_path, repo_root):
    cfg = _cfg(tmp_path, repo_root)
    cfg.temperature = dict(type='PerSampleUniformTemperature', low=2.0, high=20.0)
    runner = Runner.from_cfg(cfg)
    runner.train()
    tau = runner.message_hub.get_info('kd_temperature')
    assert tau.shape == (16,)


def test_unknown_sampler_lists_registered_ones(tmp_path, repo_root):
    cfg = _cfg(tmp_path, repo_root)
    cfg.temperature = dict(type='GaussianTemperature')
    with pytest.raises(KeyError, match='UniformTemperature'):
        Runner.from_cfg(cfg).train()
