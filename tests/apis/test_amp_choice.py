"""What ``--amp`` selects, from the machine's capability: bf16 AmpOptimWrapper (no loss scale) on
a GPU with native bf16, fp16 with a dynamic loss scale on an older GPU, bf16 CPU autocast without
CUDA; the refusals stay."""
import os.path as osp

import pytest
import torch

from mmkd_green import apis

TOY = osp.join('tests', 'fixtures', 'toy_kd_config.py')


@pytest.mark.parametrize('cuda, bf16, kind', [
    (True, True, 'cuda-bf16'), (True, False, 'cuda-fp16'),
    (False, True, 'cpu'), (False, False, 'cpu')])
def test_capability_from_cuda_and_native_bf16(cuda, bf16, kind):
    assert apis.amp_capability(lambda: cuda, lambda: bf16) == kind


@pytest.mark.parametrize('kind, expected', [
    ('cuda-bf16', dict(type='AmpOptimWrapper', dtype='bfloat16', loss_scale=dict(enabled=False))),
    ('cuda-fp16', dict(type='AmpOptimWrapper', loss_scale='dynamic')),
    ('cpu', dict(type='CPUAutocastOptimWrapper'))])
def test_amp_wrapper_chosen_for_each_capability(repo_root, kind, expected):
    cfg = apis.load_config(osp.join(repo_root, TOY))
    optimizer = dict(cfg.optim_wrapper.optimizer)
    apis.apply_amp(cfg, capability=lambda: kind)
    assert cfg.optim_wrapper.to_dict() == dict(expected, optimizer=optimizer)


def test_this_machine_keeps_its_path(repo_root):
    cfg = apis.load_config(osp.join(repo_root, TOY), amp=True)
    if not torch.cuda.is_available():          # the CPU path is unchanged
        assert cfg.optim_wrapper.type == 'CPUAutocastOptimWrapper'
        assert 'dtype' not in cfg.optim_wrapper and 'loss_scale' not in cfg.optim_wrapper
    else:
        assert cfg.optim_wrapper.to_dict() == dict(
            apis.AMP_WRAPPERS[apis.amp_capability()], optimizer=cfg.optim_wrapper.optimizer)


def test_no_emulated_bf16_on_a_machine_without_cuda():
    from mmkd_green.utils.cpu_autocast import cuda_bf16_native
    assert cuda_bf16_native() is (torch.cuda.is_available() and
                                  torch.cuda.get_device_capability()[0] >= 8)


def test_refusals_stay(repo_root):
    cfg = apis.load_config(osp.join(repo_root, TOY),
                           cfg_options=['optim_wrapper.type=CPUAutocastOptimWrapper'])
    apis.apply_amp(cfg, capability=lambda: 'cuda-bf16')   # a wrapper the config names is kept
    assert cfg.optim_wrapper.type == 'CPUAutocastOptimWrapper'
    cfg = apis.load_config(osp.join(repo_root, TOY),
                           cfg_options=['optim_wrapper.type=ColossalAIOptimWrapper'])
    with pytest.raises(ValueError, match='OptimWrapper, got ColossalAIOptimWrapper'):
        apis.apply_amp(cfg, capability=lambda: 'cuda-bf16')
    with pytest.raises(ValueError, match='unknown amp capability'):
        apis.apply_amp(apis.load_config(osp.join(repo_root, TOY)), capability=lambda: 'tpu')
    qat = osp.join(repo_root, 'configs', 'cifar10', 'qat_mobilenetv2_student.py')
    with pytest.raises(ValueError, match='without --amp'):
        apis.load_config(qat, amp=True)
    if not torch.cuda.is_available():
        cfg = apis.load_config(osp.join(repo_root, TOY),
                               cfg_options=['optim_wrapper.type=AmpOptimWrapper'])
        with pytest.raises(ValueError, match='needs a CUDA'):
            apis.apply_amp(cfg, capability=lambda: 'cuda-bf16')
