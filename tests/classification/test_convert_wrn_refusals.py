"""tools/convert_wrn.py refuses what is not a WRN checkpoint, and files it cannot read or write,
naming the file and the fix (issue 23: a ResNet-18 "converted" with exit 0)."""
import os
import os.path as osp
import sys

import pytest
import torch
import torchvision

from mmkd_green.classification.backbones import CifarResNet18, WideResNet
from mmkd_green.classification.backbones.wrn_layout import (detect_layout, to_upstream,
                                                             wrn_architecture)
from tools.convert_wrn import main as convert_wrn
from tests.fixtures import limits


def _cli(repo_root, *args):
    env = dict(os.environ)
    env.pop('MMKD_DEBUG', None)
    return limits.run([sys.executable, 'tools/convert_wrn.py', *map(str, args)],
                          cwd=repo_root, capture_output=True, text=True, timeout=120, env=env)


def _resnets():
    ours = CifarResNet18(num_classes=10).state_dict()
    return {
        'torchvision': torchvision.models.resnet18().state_dict(),
        'ours (mmengine checkpoint)': dict(meta={}, state_dict={f'backbone.{k}': v
                                                                for k, v in ours.items()}),
        'ours (plain)': ours,
    }


@pytest.mark.parametrize('kind', ['torchvision', 'ours (mmengine checkpoint)', 'ours (plain)'])
def test_a_resnet18_is_refused_naming_what_was_found(tmp_path, kind):
    src, dst = tmp_path / 'r18.pth', tmp_path / 'out.pth'
    torch.save(_resnets()[kind], str(src))
    for to in ('ours', 'upstream'):
        with pytest.raises(ValueError, match=r'not a WideResNet state dict.*found \[.*layer1'):
            convert_wrn([str(src), str(dst), '--to', to])
    assert not dst.exists() and os.listdir(tmp_path) == ['r18.pth']   # no output, no temp file


def test_wrn_shapes_are_checked_and_good_wrns_still_convert(tmp_path):
    net = WideResNet(depth=16, widen_factor=2, num_classes=100)
    up = to_upstream(net.state_dict())
    assert detect_layout(up) == 'upstream'
    assert wrn_architecture(up) == dict(depth=16, widen_factor=2, num_classes=100, in_channels=3)
    bad = dict(net.state_dict())
    bad['block2.0.conv1.weight'] = torch.zeros(64, 7, 3, 3)
    torch.save(bad, str(tmp_path / 'bad.pth'))
    with pytest.raises(ValueError, match=r'WRN-16-2 \(100 classes.*block2\.0\.conv1\.weight'):
        convert_wrn([str(tmp_path / 'bad.pth'), str(tmp_path / 'o.pth'), '--to', 'upstream'])
    extra = dict(net.state_dict(), **{'block1.0.extra.weight': torch.zeros(1)})
    with pytest.raises(ValueError, match=r"unexpected keys \(1\): \['block1\.0\.extra\.weight'\]"):
        wrn_architecture(extra)
    torch.save(dict(state_dict=up), str(tmp_path / 'up.pth'))
    out = convert_wrn([str(tmp_path / 'up.pth'), str(tmp_path / 'sub' / 'ours.pth'), '--to',
                       'ours'])
    assert out.keys() == net.state_dict().keys()
    assert sorted(os.listdir(tmp_path / 'sub')) == ['ours.pth']


def test_unreadable_inputs_and_unwritable_outputs(tmp_path):
    good = tmp_path / 'wrn.pth'
    torch.save(WideResNet(depth=10, widen_factor=1).state_dict(), str(good))
    data = good.read_bytes()
    (tmp_path / 'trunc.pth').write_bytes(data[:len(data) // 2])
    (tmp_path / 'text.pth').write_text('epoch 1: loss 0.5\n')
    (tmp_path / 'empty.pth').write_bytes(b'')
    (tmp_path / 'a_file').write_text('x')
    cases = [('trunc.pth', 'o.pth', r'trunc\.pth: it is a truncated zip archive'),
             ('text.pth', 'o.pth', r'text\.pth: it is not a torch checkpoint'),
             ('empty.pth', 'o.pth', r'empty\.pth: it is empty'),
             ('missing.pth', 'o.pth', r'not found.*missing\.pth'),
             ('wrn.pth', 'a_file/o.pth', r'a_file is a file, not a folder'),
             ('wrn.pth', '/proc/mmkd_no_such_dir/o.pth', r'cannot write the output /proc/'),
             ('wrn.pth', '.', r'is a folder')]
    for src, dst, msg in cases:
        with pytest.raises((ValueError, OSError), match=msg):
            convert_wrn([str(tmp_path / src), str(tmp_path / dst) if not dst.startswith('/')
                         else dst, '--to', 'upstream'])
    assert not osp.exists(tmp_path / 'o.pth')


def test_cli_prints_the_message_without_traceback_and_debug_shows_it(tmp_path, repo_root):
    torch.save(_resnets()['torchvision'], str(tmp_path / 'r18.pth'))
    args = (tmp_path / 'r18.pth', tmp_path / 'o.pth', '--to', 'upstream')
    proc = _cli(repo_root, *args)
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'r18.pth: cannot tell the WRN key layout: not a WideResNet' in proc.stderr
    assert '--debug' in proc.stderr and not (tmp_path / 'o.pth').exists()
    proc = _cli(repo_root, *args, '--debug')
    assert proc.returncode == 1 and 'Traceback' in proc.stderr
