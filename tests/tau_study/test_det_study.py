"""The τ study tool on detection: SSD KD on real BCCD images (VOC mAP), its own validation split,
and the refusal of a study that would choose τ on the test split."""
import json
import os.path as osp

import pytest

from mmkd_green import tau_study


def _bccd_study(tmp_path, repo_root, bccd):
    cfgs = osp.join(repo_root, 'configs', 'bccd')
    text = f'''
_base_ = [{osp.join(repo_root, 'configs', 'tau_study', 'bccd.py')!r}]
data_root = {bccd!r}
seeds = [0]
taus = [4]
common_cfg_options = {{'train_dataloader.dataset.indices': 8, 'val_dataloader.dataset.indices': 6,
                      'test_dataloader.dataset.indices': 6, 'train_dataloader.batch_size': 4}}
teacher = dict(config={osp.join(cfgs, 'ssd_teacher_bccd.py')!r}, epochs=1)
arms = dict(hkd=dict(config={osp.join(cfgs, 'ssd_kd_fixed_bccd.py')!r}, epochs=1))
'''
    path = tmp_path / 'bccd_tiny.py'
    path.write_text(text)
    return str(path)


def test_bccd_study_end_to_end(shared_data, tmp_path, repo_root, monkeypatch):
    """Teacher + 2 KD runs (τ = 4, U[2, 20]) x 1 epoch on a few real BCCD images, each in its
    own process: each run trains on train.txt, scores validation on val.txt and test on
    test.txt; a rerun trains nothing."""
    pytest.importorskip('mmdet.registry', reason='mmdet (needs mmcv) is not importable')
    import mmkd_green.detection  # noqa: F401
    monkeypatch.chdir(repo_root)     # the KD configs name their teacher config from the repo root
    study = tau_study.load_study(_bccd_study(tmp_path, repo_root, osp.join(shared_data, 'BCCD')))
    assert study.common_cfg_options['train_dataloader.dataset.ann_file'].endswith('train.txt')
    out = str(tmp_path / 'out')
    specs = tau_study.plan(study, out)
    assert [s.label for s in specs] == ['teacher', 'hkd_tau4_s0', 'hkd_uniform_s0']
    for s in specs:
        splits = [s.cfg[k].dataset.ann_file for k in ('train_dataloader', 'val_dataloader',
                                                      'test_dataloader')]
        assert splits == ['ImageSets/Main/train.txt', 'ImageSets/Main/val.txt',
                          'ImageSets/Main/test.txt']
    # fork=True: each run in a spawned interpreter, as the tool runs it (the config's
    # custom_imports must register the SSD parts there)
    report = tau_study.run_study(study, out, progress=False, fork=True)
    runs = {r['label']: r for r in report['runs']}
    for label in ('hkd_tau4_s0', 'hkd_uniform_s0'):
        r = runs[label]
        assert r['finished'] and r['energy_kwh'] > 0 and r['train_flops'] > 0
        assert 0.0 <= r['val_metric'] <= 1.0 and 0.0 <= r['test_metric'] <= 1.0
        assert set(r['test']) >= {'pascal_voc/mAP'}
    arm = report['arms']['hkd']
    assert arm['selected_per_seed'][0]['tau'] == 4.0
    assert arm['stochastic']['uniform']['diff_vs_selected']['n'] == 1
    md = open(report['tables']['md']).read()
    assert 'test mAP' in md and '| 4 |' in md
    saved = json.load(open(report['tables']['json']))
    assert saved['metric'] == 'mAP'
    specs = tau_study.plan(study, out)    # the KD folders are named after the teacher checkpoint
    mtimes = [osp.getmtime(osp.join(s.work_dir, tau_study.RESULT_FILE)) for s in specs]
    tau_study.run_study(study, out, progress=False, fork=False)
    assert mtimes == [osp.getmtime(osp.join(s.work_dir, tau_study.RESULT_FILE)) for s in specs]


def test_study_refuses_choosing_tau_on_the_test_split(tmp_path, repo_root, monkeypatch):
    """A detection KD config validates on its test split: as a study it is refused, naming the
    fix; pointing the validation split at val.txt makes it a valid study."""
    pytest.importorskip('mmdet.registry', reason='mmdet (needs mmcv) is not importable')
    import mmkd_green.detection  # noqa: F401
    monkeypatch.chdir(repo_root)
    kd = osp.join(repo_root, 'configs', 'bccd', 'ssd_kd_fixed_bccd.py')
    study = tau_study.load_study(kd)
    assert study.metric == 'mAP'
    with pytest.raises(ValueError, match='validation split that picks τ is the test split.*'
                                         'val_dataloader.dataset.ann_file'):
        tau_study.plan(study, str(tmp_path))
    fixed = tau_study.load_study(kd, dict(cfg_options={
        'val_dataloader.dataset.ann_file': 'ImageSets/Main/val.txt'}))
    assert len(tau_study.plan(fixed, str(tmp_path))) == 21   # τ = 1..20 + U[2, 20]
