"""WRN checkpoints between our key layout and upstream zju-vipa/CMI's: same logits both ways."""
import importlib.util
import os
import os.path as osp
import sys

import pytest
import torch

from mmkd_green.classification.backbones import WideResNet
from mmkd_green.classification.backbones.wrn_layout import (check_state_dict, detect_layout,
                                                             to_ours, to_upstream)
from tests.fixtures import limits

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _ours(depth=16, k=2, classes=10, seed=0):
    torch.manual_seed(seed)
    net = WideResNet(depth=depth, widen_factor=k, num_classes=classes)
    with torch.no_grad():        # non-trivial BN statistics and affine parameters
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    return net.eval()


def test_round_trip_keeps_every_tensor_and_the_logits():
    net = _ours()
    up = to_upstream(net.state_dict())
    assert detect_layout(up) == 'upstream'
    assert 'block1.layer.0.convShortcut.weight' in up and 'bn1.running_var' in up
    assert 'block1.layer.0.conv1.weight' in up and 'bn.weight' not in up
    back = to_ours({f'module.{k}': v for k, v in up.items()})     # DataParallel prefix dropped
    assert back.keys() == net.state_dict().keys()
    twin = WideResNet(depth=16, widen_factor=2, num_classes=10).eval()
    twin.load_state_dict(back)
    x = torch.randn(3, 3, 32, 32)
    assert torch.equal(net(x), twin(x))
    # already in the target layout: unchanged (mmengine's backbone.* prefix dropped)
    assert to_ours({f'backbone.{k}': v for k, v in net.state_dict().items()}).keys() == \
        net.state_dict().keys()


def test_check_names_missing_and_mismatched_keys_and_the_fix():
    ref = _ours().state_dict()
    bad = dict(to_ours(ref))
    bad.pop('fc.bias')
    bad['fc.weight'] = torch.zeros(5, 5)
    with pytest.raises(ValueError, match=r"missing keys \(1\): \['fc.bias'\].*shape mismatches.*"
                                         r"fc.weight.*Fix: do this"):
        check_state_dict(bad, ref, fix='do this')
    check_state_dict(to_ours(ref), ref)
    with pytest.raises(ValueError, match='cannot tell the WRN key layout'):
        detect_layout({'weight': torch.zeros(1)})


def _upstream_wresnet():
    root = os.environ.get('MMKD_CMI_ROOT')
    path = osp.join(root or '', 'datafree', 'models', 'classifiers', 'wresnet.py')
    if not root or not osp.isfile(path):
        pytest.skip('MMKD_CMI_ROOT not set to an upstream zju-vipa/CMI checkout '
                    '(third_party/README.md)')
    spec = importlib.util.spec_from_file_location('upstream_wresnet_under_test', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)      # plain torch module file: no upstream dependencies
    return mod


@pytest.mark.parametrize('depth,k', [(16, 1), (40, 2)])
def test_identical_logits_with_upstreams_own_network(depth, k, tmp_path):
    """Ours -> upstream through tools/convert_wrn.py, loaded strictly by upstream's WideResNet:
    identical logits; and back from upstream's own state dict into ours."""
    wresnet = _upstream_wresnet()
    net = _ours(depth, k, classes=100, seed=depth)
    src, dst = tmp_path / 'ours.pth', tmp_path / 'up.pth'
    torch.save(dict(meta={}, state_dict={f'backbone.{k_}': v for k_, v in
                                         net.state_dict().items()}), str(src))
    limits.run([sys.executable, osp.join(ROOT, 'tools', 'convert_wrn.py'), str(src), str(dst),
                '--to', 'upstream'], check=True, cwd=ROOT, capture_output=True)
    up = getattr(wresnet, f'wrn_{depth}_{k}')(num_classes=100).eval()
    up.load_state_dict(torch.load(str(dst), map_location='cpu')['state_dict'])   # strict
    x = torch.randn(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(net(x), up(x))
        torch.manual_seed(1)
        other = getattr(wresnet, f'wrn_{depth}_{k}')(num_classes=100).eval()
        ours = WideResNet(depth=depth, widen_factor=k, num_classes=100).eval()
        ours.load_state_dict(to_ours(other.state_dict()))
        assert torch.equal(other(x), ours(x))


def test_data_free_distiller_loads_a_teacher_in_upstreams_layout(tmp_path):
    from mmkd_green.dfkd import DataFreeDistiller
    net = _ours(16, 1)
    ckpt = tmp_path / 'up.pth'
    torch.save(dict(state_dict=to_upstream(net.state_dict())), str(ckpt))
    model = DataFreeDistiller(
        student=dict(type='WideResNet', depth=16, widen_factor=1),
        teacher=dict(type='WideResNet', depth=16, widen_factor=1), teacher_ckpt=str(ckpt),
        synthesizer=dict(type='DeepInversionSynthesizer', num_classes=10, iterations=1,
                         synthesis_batch_size=2, adv=0.0))
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():   # the distiller may hold its networks in channels_last (same
        #                     weights, another summation order): equal up to float rounding
        torch.testing.assert_close(model.teacher(x), net(x), rtol=1e-5, atol=1e-5)
        assert all(torch.equal(a, b) for a, b in zip(model.teacher.state_dict().values(),
                                                      net.state_dict().values()))
