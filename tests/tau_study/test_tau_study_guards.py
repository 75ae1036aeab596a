"""Guards of the τ study, before any training: bad input refused with the fix, validation images
in a training split (student's or teacher's) refused, and a cache key without cosmetic fields
but with the code, torch and teacher-checkpoint versions."""
import copy
import json
import os
import os.path as osp
import sys

import pytest
import torch

from cls_helpers import ROOT, write_cifar
from mmkd_green import run_cache_key, tau_study, tau_study_checks
from tests.fixtures import limits
from test_tau_study import _study_file


@pytest.fixture(scope='module')
def cifar_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('cifar_guards')
    write_cifar(osp.join(root, 'cifar-10-batches-py'), n_batches=2, per_batch=40)
    return str(root)


@pytest.mark.parametrize('override, message', [
    (dict(taus=[]), 'τ grid is empty'),
    (dict(seeds=[0, 0]), r'seed\(s\) \[0\] given more than once'),
    (dict(seeds=[-1]), r'seeds must be integers in \[0, '),
])
def test_bad_values_are_refused_at_load(tmp_path, cifar_root, override, message):
    with pytest.raises(ValueError, match=message):
        tau_study.load_study(_study_file(tmp_path, cifar_root), override)


@pytest.mark.parametrize('value', [-1.0, 0.0, float('nan'), float('inf')])
def test_max_grid_kwh_is_refused_before_training(tmp_path, cifar_root, value):
    study = tau_study.load_study(_study_file(tmp_path, cifar_root))
    with pytest.raises(ValueError, match='--max-grid-kwh must be a finite number > 0'):
        tau_study.run_study(study, str(tmp_path / 'out'), progress=False, max_grid_kwh=value)
    assert not osp.exists(tmp_path / 'out' / 'runs')


def test_missing_test_files_are_refused_before_training(tmp_path):
    root = tmp_path / 'no_test'
    write_cifar(str(root / 'cifar-10-batches-py'), n_batches=2, per_batch=40)
    os.remove(root / 'cifar-10-batches-py' / 'test_batch')
    study = tau_study.load_study(_study_file(tmp_path, str(root)))
    with pytest.raises(ValueError, match='the test split cannot be read.*--data-root'):
        tau_study.run_study(study, str(tmp_path / 'out'), progress=False)
    assert not osp.exists(tmp_path / 'out' / 'runs')


def test_bf16_arm_on_a_cpu_without_bf16_is_refused(tmp_path, cifar_root):
    study = tau_study.load_study(_study_file(tmp_path, cifar_root), dict(cfg_options={
        'optim_wrapper.type': 'CPUAutocastOptimWrapper'}))
    specs = tau_study.plan(study, str(tmp_path / 'out'))
    with pytest.raises(RuntimeError, match='no native bf16'):
        tau_study.check_before_training(study, specs, bf16_supported=False)


def test_validation_images_in_the_student_training_split_are_refused(tmp_path, cifar_root):
    # without the holdout, the "validation" split is the training files themselves
    path = _study_file(tmp_path, cifar_root)
    text = open(path).read().replace('holdout = dict(fraction=0.25, seed=0)', 'holdout = None')
    open(path, 'w').write(text)
    study = tau_study.load_study(path, dict(cfg_options={
        'val_dataloader.dataset.test_mode': False}))
    specs = tau_study.plan(study, str(tmp_path / 'out'))
    with pytest.raises(ValueError, match="validation images .* are in the student's training"):
        tau_study.check_before_training(study, specs)


def _kd_only_study(tmp_path, cifar_root, teacher_ckpt, extra=''):
    text = open(_study_file(tmp_path, cifar_root)).read()
    text = text.replace('teacher = dict(', 'unused_teacher = dict(') + f'''
teacher = None
common_cfg_options['model.teacher_ckpt'] = {teacher_ckpt!r}
{extra}
'''
    path = tmp_path / 'kd_only.py'
    path.write_text(text)
    return str(path)


def test_teacher_trained_on_the_validation_images_is_refused(tmp_path, cifar_root):
    from mmengine.config import Config
    from mmkd_green.classification.backbones import CifarResNet18  # noqa: F401
    t_cfg = Config.fromfile(osp.join(ROOT, 'configs', 'cifar10', 'resnet18_teacher.py'))
    t_cfg.train_dataloader.dataset.data_root = cifar_root   # all training files: holds the holdout
    from mmkd_green.registry import MODELS
    net = MODELS.build(dict(type='CifarResNet18', num_classes=10, base_channels=4))
    ckpt = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=net.state_dict(), meta=dict(cfg=t_cfg.pretty_text)), ckpt)
    study = tau_study.load_study(_kd_only_study(tmp_path, cifar_root, ckpt))
    specs = tau_study.plan(study, str(tmp_path / 'out'))
    assert specs[0].kind == 'grid'
    with pytest.raises(ValueError, match='teacher was trained on .* validation images'):
        tau_study.check_before_training(study, specs)
    # trained on the training part only: accepted
    t_cfg.train_dataloader.dataset.holdout = dict(fraction=0.25, seed=0, part='train')
    torch.save(dict(state_dict=net.state_dict(), meta=dict(cfg=t_cfg.pretty_text)), ckpt)
    study = tau_study.load_study(_kd_only_study(tmp_path, cifar_root, ckpt))
    tau_study.check_before_training(study, tau_study.plan(study, str(tmp_path / 'out')))


def test_cache_key_ignores_cosmetics_and_holds_versions(tmp_path, cifar_root):
    study = tau_study.load_study(_study_file(tmp_path, cifar_root))
    spec = tau_study.plan(study, str(tmp_path / 'out'))[1]
    base = tau_study.config_key(spec.cfg, 'a' * 40)
    cosmetic = copy.deepcopy(spec.cfg)
    cosmetic.default_hooks.logger.interval = 50
    cosmetic.train_dataloader.num_workers = 3
    cosmetic.train_dataloader.dataset.data_root = cifar_root + '/./'   # same folder, other spelling
    assert tau_study.config_key(cosmetic, 'a' * 40) == base
    real = copy.deepcopy(spec.cfg)
    real.train_dataloader.batch_size = 4
    assert tau_study.config_key(real, 'a' * 40) != base
    assert tau_study.config_key(spec.cfg, 'b' * 40) != base                 # teacher checkpoint
    assert tau_study.config_key(spec.cfg, 'a' * 40, code_version='package') != base
    v = run_cache_key.versions()
    assert v['torch'] == torch.__version__ and run_cache_key.source_digest() in v['code']


def test_cache_key_does_not_depend_on_the_working_directory(tmp_path, cifar_root, monkeypatch):
    # The CIFAR base config's top-level ``data_root = 'data/cifar10'`` is relative; before it
    # was pointed at the study's data root too, it was realpath'ed against the cwd, so the same
    # study run from two checkouts had two sets of keys and trained everything again.
    keys = []
    for cwd in (tmp_path / 'a', tmp_path / 'b'):
        cwd.mkdir()
        monkeypatch.chdir(cwd)
        study = tau_study.load_study(_study_file(tmp_path, cifar_root))
        spec = tau_study.plan(study, str(tmp_path / 'out'))[1]
        assert spec.cfg.data_root == spec.cfg.train_dataloader.dataset.data_root
        keys.append(tau_study.config_key(spec.cfg, 'a' * 40))
    assert keys[0] == keys[1]


def test_null_result_file_is_not_a_result(tmp_path, cifar_root):
    study = tau_study.load_study(_study_file(tmp_path, cifar_root))
    spec = tau_study.plan(study, str(tmp_path / 'out'))[1]
    os.makedirs(spec.work_dir)
    with open(osp.join(spec.work_dir, tau_study.RESULT_FILE), 'w') as f:
        json.dump(None, f)
    assert tau_study.load_result(spec) is None


def test_report_only_on_a_new_folder_says_what_to_do(tmp_path, cifar_root):
    study = tau_study.load_study(_study_file(tmp_path, cifar_root))
    with pytest.raises(FileNotFoundError, match='nothing has been trained .* Start the study'):
        tau_study.report_from_finished(study, str(tmp_path / 'new'))


@pytest.mark.parametrize('args, message', [
    (['--seeds', '0', '0'], 'given more than once'),
    (['--seeds', '-3'], 'seeds must be integers'),
    (['--taus', 'nan'], 'distinct, finite and > 0'),
    (['--max-grid-kwh', '0'], '--max-grid-kwh must be'),
    (['--report-only'], 'nothing has been trained'),
])
def test_cli_refuses_bad_input_before_training(tmp_path, cifar_root, args, message):
    out = tmp_path / 'out'
    proc = limits.run([sys.executable, osp.join(ROOT, 'tools', 'tune_temperature.py'),
                       _study_file(tmp_path, cifar_root), '--out', str(out), *args],
                      capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode != 0 and message in proc.stderr
    assert 'Traceback' not in proc.stderr and not osp.exists(out / 'runs')
