"""The upstream-CMI adapter: our criterion drop-in always; upstream's own flow with a checkout.

Tests that need the user's checkout of zju-vipa/CMI (commit 9e79fa9, never vendored) and its extra
dependencies skip with the reason when ``MMKD_CMI_ROOT`` is unset or they are missing.
"""
import importlib.util
import os
import os.path as osp
import sys

import pytest
import torch

from mmkd_green.dfkd.upstream_cmi import (ENV_VAR, UpstreamCMIAdapter, add_torchvision_alias,
                                          find_checkout, sampled_kldiv_class)
from mmkd_green.losses import HKDLoss
from mmkd_green.temperature import PerSampleUniformTemperature, UniformTemperature


def test_criterion_draws_tau_per_call_from_the_shared_sampler():
    sampler = UniformTemperature(2.0, 20.0, seed=5)
    log = []
    KLDiv = sampled_kldiv_class(sampler, log)
    criterion = KLDiv(T=20)               # what upstream's datafree_kd.py builds
    hkd = HKDLoss(alpha=1.0)
    torch.manual_seed(0)
    for i in range(3):
        s, t = torch.randn(6, 10), torch.randn(6, 10)
        loss = criterion(s, t)
        assert criterion.last_tau == sampler(i)
        assert float(loss) == pytest.approx(float(hkd(s, t, tau=sampler(i))), rel=1e-4)
    assert log == [sampler(i) for i in range(3)]
    # upstream's logged metric KLDiv(reduction='sum') keeps its T and does not consume τ draws
    metric = KLDiv(reduction='sum')
    s, t = torch.randn(6, 10), torch.randn(6, 10)
    assert float(metric(s, t)) == pytest.approx(6 * float(hkd(s, t, tau=1.0)), rel=1e-4)
    assert len(log) == 3 and criterion.iteration == 3


def test_criterion_with_per_sample_tau():
    sampler = PerSampleUniformTemperature(2.0, 20.0, seed=1)
    criterion = sampled_kldiv_class(sampler)(T=4)
    s, t = torch.randn(5, 7), torch.randn(5, 7)
    tau = sampler(0, 5)
    expected = HKDLoss(alpha=1.0)(s, t, tau=tau)
    assert float(criterion(s, t)) == pytest.approx(float(expected), rel=1e-4)


def test_torchvision_alias_for_upstream_imports():
    add_torchvision_alias()
    from torchvision.models.utils import load_state_dict_from_url
    assert load_state_dict_from_url is torch.hub.load_state_dict_from_url


def test_missing_checkout_explains_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.raises(FileNotFoundError, match='git clone .*9e79fa9'):
        find_checkout()
    with pytest.raises(FileNotFoundError, match='not a zju-vipa/CMI checkout'):
        find_checkout(str(tmp_path))


# ---------------------------------------------------------------- with the user's checkout
def _checkout():
    root = os.environ.get(ENV_VAR)
    if not root or not osp.isdir(root):
        pytest.skip(f'{ENV_VAR} not set to an upstream zju-vipa/CMI checkout '
                    '(see third_party/README.md)')
    missing = [m for m in ('kornia', 'einops', 'sklearn', 'termcolor', 'tqdm')
               if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f'upstream CMI needs {missing} (pip install kornia einops scikit-learn '
                    'termcolor tqdm)')
    return root


def test_upstream_train_step_uses_our_tau_and_meter(tmp_path):
    root = _checkout()
    from mmkd_green.energy import load_run_totals
    adapter = UpstreamCMIAdapter(root, seed=3, work_dir=str(tmp_path / 'run'))
    datafree = adapter.install()
    import runpy
    import types
    import torchvision.transforms as T
    assert datafree.criterions.KLDiv.shared_sampler is adapter.sampler
    kd = runpy.run_path(osp.join(root, 'datafree_kd.py'), run_name='upstream_datafree_kd')
    wrn = datafree.models.classifiers.wresnet
    torch.manual_seed(0)
    teacher, student = wrn.wrn_16_1(num_classes=10).eval(), wrn.wrn_16_1(num_classes=10)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
    synth = datafree.synthesis.DeepInvSyntheiszer(
        teacher, student, num_classes=10, img_size=(3, 32, 32), iterations=2,
        synthesis_batch_size=8, sample_batch_size=8, save_dir=str(tmp_path / 'syn'),
        transform=T.Compose([T.ToTensor(), T.Normalize(mean, std)]),
        normalizer=datafree.utils.Normalizer(mean, std), device='cpu')
    criterion = datafree.criterions.KLDiv(T=20)     # as datafree_kd.main_worker builds it
    optimizer = torch.optim.SGD(student.parameters(), 0.1, momentum=0.9)
    args = types.SimpleNamespace(kd_steps=3, gpu=None, fp16=False, print_freq=0,
                                 current_epoch=0, autocast=datafree.utils.dummy_ctx)
    adapter.start_meter()
    synth.synthesize()
    kd['train'](synth, [student, teacher], criterion, optimizer, args)   # upstream's KD loop
    assert criterion.iteration == 3
    assert adapter.taus == [adapter.sampler(i) for i in range(3)]
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.randn(8, 3, 32, 32), torch.arange(8) % 10),
        batch_size=4)
    evaluator = datafree.evaluators.classification_evaluator(loader)   # patched factory
    results = evaluator(student, device='cpu')
    assert 'Acc' in results
    totals = adapter.stop_meter()
    assert totals['epochs'] == 1 and totals['tau']['count'] == 3
    assert load_run_totals(str(tmp_path / 'run'))['metric']['acc1'] == \
        pytest.approx(float(results['Acc'][0]))
