"""The published-default configs, the teacher-checkpoint contract and tools/dfkd.py end to end."""
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config

from mmkd_green.dfkd import DataFreeDistiller
from mmkd_green.dfkd.pipeline import config_name, prepare_config
from mmkd_green.registry import MODELS
from mmkd_green.utils.teacher import load_weights

from dfkd_helpers import MEAN, NUM_CLASSES, SIZE, STD, TinyBNNet, accuracy

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(glob.glob(osp.join(ROOT, 'configs', 'dfkd', 'cifar*_wrn40_2_wrn16_1_*.py')))


def config_path(*args):
    return osp.join(ROOT, 'configs', 'dfkd', config_name(*args))


def test_eight_configs_exist():
    names = {osp.basename(c) for c in CONFIGS}
    assert names == {f'{d}_{m}_wrn40_2_wrn16_1_{t}.py' for d in ('cifar10', 'cifar100')
                     for m in ('cmi', 'deepinversion') for t in ('stochastic', 'fixed')}


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.basename(p)[:-3])
def test_config_defaults_and_model_build(path):
    cfg = Config.fromfile(path)
    n = 100 if 'cifar100' in path else 10
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert hooks.count('TemperatureHook') == 1 and hooks.count('CarbonFootprintHook') == 1
    if path.endswith('_fixed.py'):
        assert cfg.temperature == dict(type='ConstantTemperature', tau=20.0)
    else:
        assert cfg.temperature == dict(type='UniformTemperature', low=2.0, high=20.0)
    assert cfg.train_cfg.type == 'DataFreeTrainLoop' and cfg.train_cfg.max_epochs == 200
    assert cfg.train_cfg.kd_steps == 400 and cfg.train_cfg.ep_steps == 400
    assert cfg.train_dataloader == dict(batch_size=256)
    s = cfg.model.synthesizer
    if '_cmi_' in path:
        expect = dict(type='CMISynthesizer', synthesis_batch_size=256, iterations=200, lr=1e-3,
                      adv=0.5, bn=1.0, oh=1.0, cr=0.8, cr_T=0.2)
        # the same cr_T as the upstream command third_party/README.md documents
        readme = open(osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                               'third_party', 'README.md')).read()
        documented = set(re.findall(r'--cr_T ([0-9.]+)', readme))
        assert documented == {str(expect['cr_T'])}, documented
    else:
        expect = dict(type='DeepInversionSynthesizer', synthesis_batch_size=256, iterations=1000,
                      lr=0.1, bn=10.0, oh=1.0, adv=1.0, tv=1e-3)
    assert {k: s[k] for k in expect} == expect
    assert (cfg.model.teacher.depth, cfg.model.teacher.widen_factor) == (40, 2)
    assert (cfg.model.student.depth, cfg.model.student.widen_factor) == (16, 1)
    assert s.num_classes == cfg.model.teacher.num_classes == cfg.model.student.num_classes == n
    model_cfg = cfg.model.copy()
    model_cfg.teacher_ckpt = None
    model = MODELS.build(model_cfg)
    assert model.synthesizer.teacher is model.teacher
    # the optimizer sees the student only; the synthesizer state is checkpoint extra state
    assert sum(p.numel() for p in model.parameters()) == \
        sum(p.numel() for p in model.student.parameters())
    assert '_extra_state' in model.state_dict()


def test_missing_teacher_checkpoint_names_the_config_key():
    cfg = Config.fromfile(config_path('deepinversion'))
    cfg.model.teacher_ckpt = 'no/such/teacher.pth'
    with pytest.raises(FileNotFoundError, match='model.teacher_ckpt'):
        MODELS.build(cfg.model)


def test_preprocessor_must_match_the_synthesizer(toy_teacher):
    synth = dict(type='DeepInversionSynthesizer', num_classes=NUM_CLASSES,
                 img_size=(3, SIZE, SIZE), mean=MEAN, std=STD)
    with pytest.raises(ValueError, match='differ from the synthesizer'):
        DataFreeDistiller(student=TinyBNNet(), teacher=toy_teacher, synthesizer=synth,
                          data_preprocessor=dict(type='ImgDataPreprocessor', mean=(0, 0, 0),
                                                 std=(255, 255, 255)))


def test_prepare_config_real_data_switch(tmp_path):
    cfg = Config.fromfile(config_path('cmi', 'cifar100', 'fixed'))
    prepare_config(cfg, teacher='t.pth', data_root=str(tmp_path), epochs=3)
    assert cfg.model.teacher_ckpt == 't.pth' and cfg.val_dataloader.dataset.data_root == str(tmp_path)
    assert cfg.train_cfg.max_epochs == 3 and cfg.param_scheduler[0].T_max == 3
    cfg = Config.fromfile(config_path('cmi'))
    prepare_config(cfg)
    assert cfg.val_dataloader is None and cfg.val_cfg is None
    with pytest.raises(FileNotFoundError, match='--data-root'):
        prepare_config(cfg, data_root=str(tmp_path / 'missing'))
    with pytest.raises(ValueError, match='unknown method'):
        config_path('dafl')


TOY_CONFIG = '''
_base_ = [{base!r}]
model = dict(
    _delete_=True, type='DataFreeDistiller',
    teacher=dict(type='TinyBNNet', width=8), student=dict(type='TinyBNNet', width=8),
    teacher_ckpt=None, kd_loss=dict(type='HKDLoss', alpha=1.0),
    synthesizer=dict(type='DeepInversionSynthesizer', num_classes={n}, img_size=(3, {s}, {s}),
                     mean={mean}, std={std}, synthesis_batch_size=32, iterations=12, lr=0.1,
                     bn=1.0, oh=1.0, adv=1.0, tv=1e-3, kd_padding=2))
train_dataloader = dict(_delete_=True, batch_size=32)
train_cfg = dict(ep_steps=6, kd_steps=3)
default_hooks = dict(logger=dict(interval=3), checkpoint=dict(interval=1))
'''


def test_tool_trains_and_exports_a_student(toy_teacher, toy_data, tmp_path):
    import sys
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    from dfkd import main
    teacher_ckpt = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in toy_teacher.state_dict().items()}),
               teacher_ckpt)
    cfg = tmp_path / 'toy_dfkd.py'
    cfg.write_text(TOY_CONFIG.format(base=config_path('deepinversion'), n=NUM_CLASSES, s=SIZE,
                                     mean=MEAN, std=STD))
    torch.manual_seed(0)
    out = main(['--config', str(cfg), '--teacher', teacher_ckpt, '--epochs', '2',
                '--work-dir', str(tmp_path / 'run'), '--out', str(tmp_path / 'student.pth')])
    assert out['student'] == str(tmp_path / 'student.pth') and out['metrics'] is None
    assert osp.isfile(tmp_path / 'run' / 'synthetic' / 'epoch_2.png')
    student = TinyBNNet(width=8)
    load_weights(student, out['student'], what='student',
                 revise_keys=((r'^backbone\.', ''),))
    acc = accuracy(student, *toy_data['test'])
    assert acc > 2.0 / NUM_CLASSES, f'student accuracy {acc:.2f}'
