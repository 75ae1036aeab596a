"""A short real run beats the untrained student; the demo, export tool and benchmark run."""
import json
import os.path as osp

import pytest

pytest.importorskip('mmdet.registry', reason='mmdet (needs mmcv) is not importable')

from mmkd_green import apis  # noqa: E402

from det_helpers import ROOT, load_cfg  # noqa: E402


def _student(data_root, work_dir, epochs):
    cfg = load_cfg('configs/toy/ssdlite_student_toy.py', data_root, work_dir, epochs, batch_size=4)
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] != 'CarbonFootprintHook']
    cfg.randomness = dict(seed=0)
    # scored on the images it trains on: the from-scratch SSDLite student needs ~600 iterations
    # on 240 images for a clear held-out mAP (the demo: 0.5 alone, 0.59 with KD); 180 iterations
    # on 24 images show that the real training path learns, at test-suite cost
    cfg.test_dataloader.dataset.ann_file = 'VOC2007/ImageSets/Main/trainval.txt'
    return cfg


def test_short_run_raises_map_above_untrained(toy_voc, tmp_path, mmdet_scope):
    untrained = apis.build_runner(_student(toy_voc, tmp_path / 'untrained', 1))
    untrained.model.init_weights()
    before = untrained.test()['pascal_voc/mAP']
    runner = apis.build_runner(_student(toy_voc, tmp_path / 'trained', 30))
    runner.train()
    after = runner.test()['pascal_voc/mAP']
    assert after > before + 0.01 and after > 3 * before, (before, after)


def test_demo_end_to_end_tiny(tmp_path, capsys, mmdet_scope):
    from tools.demo import run_demo
    res = run_demo(str(tmp_path / 'demo'), str(tmp_path / 'toy'), num_trainval=16, num_test=8,
                   epochs=1)
    out = capsys.readouterr().out
    assert 'kWh (with PUE)' in out and 'g CO2-eq' in out and '| kd_stochastic | stochastic |' in out
    assert 0.0 <= res['student_mAP'] <= 1.0 and len(res['rows']) == 2
    assert [r['run'] for r in res['rows']] == ['kd_stochastic', 'teacher']
    assert all(r['kwh'] > 0 and r['co2_g'] > 0 for r in res['rows'])
    assert osp.isfile(tmp_path / 'demo' / 'student_kd_exported.pth')


def test_export_tool_refuses_plain_checkpoints(tmp_path):
    import torch
    from tools.export_student import main
    path = str(tmp_path / 'plain.pth')
    torch.save(dict(state_dict={'backbone.w': torch.zeros(1)}), path)
    with pytest.raises(ValueError, match='not an SSDDistiller checkpoint'):
        main([path, str(tmp_path / 'out.pth')])
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        main([str(tmp_path / 'missing.pth'), str(tmp_path / 'out.pth')])


def test_benchmark_json(tmp_path, mmdet_scope):
    import sys
    sys.path.insert(0, ROOT)
    from benchmarks.kd_iteration_time import main
    out = tmp_path / 'bench.json'
    res = main(['--iters', '2', '--warmup', '0', '--batch-size', '4', '--out', str(out)])
    saved = json.loads(out.read_text())
    assert saved == res
    assert res['kd_iter_s'] > 0 and res['student_iter_s'] > 0 and res['teacher_forward_s'] > 0
    assert res['ratio'] == pytest.approx(
        res['kd_iter_s'] / (res['student_iter_s'] + res['teacher_forward_s']), abs=2e-3)
