"""QAT baseline: a few real iterations through mmengine, then an int8 model that runs on CPU."""
import json
import os.path as osp

import torch
from cls_helpers import ROOT, load


def test_qat_trains_and_converts_to_int8(tmp_path, cifar10_root):
    import importlib.util
    spec = importlib.util.spec_from_file_location('qat_student',
                                                  osp.join(ROOT, 'tools', 'qat_student.py'))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    cfg = load('cifar10/qat_mobilenetv2_student.py', data_root=cifar10_root,
               work_dir=str(tmp_path))
    small = tmp_path / 'cfg.py'
    cfg.dump(str(small))
    summary = tool.main([str(small)])
    assert 0 <= summary['int8']['cls/accuracy'] <= 100
    assert summary['int8_state_dict_bytes'] < summary['float_state_dict_bytes']
    saved = json.load(open(osp.join(str(tmp_path), 'qat_summary.json')))
    assert saved['backend'] == 'x86'
    assert saved['run_totals']['epochs'] == 1 and saved['run_totals']['energy_kwh'] > 0
    # the converted model holds quantized kernels and runs on CPU
    from mmkd_green.registry import MODELS
    model = MODELS.build(cfg.model)
    int8 = model.convert()
    assert any(isinstance(m, torch.ao.nn.quantized.Conv2d) for m in int8.modules())
    out = int8(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()
