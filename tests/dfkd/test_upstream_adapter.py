"""The upstream-CMI adapter: our criterion drop-in always; upstream's own flow with a checkout.

Tests that need the user's checkout of zju-vipa/CMI (commit 9e79fa9, never vendored) and its extra
dependencies skip with the reason when ``MMKD_CMI_ROOT`` is unset or they are missing.
"""
import importlib.util
import os
import os.path as osp
import sys
import types

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
    """Upstream's own KD loop gets τ from the sampler; the generator's adversarial KLDiv (the very
    object main_worker hands to both, for zskt/dfq/dafl) and the logged metric keep fixed T."""
    root = _checkout()
    from mmkd_green.energy import load_run_totals
    adapter = UpstreamCMIAdapter(root, seed=3, work_dir=str(tmp_path / 'run'))
    datafree = adapter.install()
    import runpy
    import torchvision.transforms as T
    kd = runpy.run_path(osp.join(root, 'datafree_kd.py'), run_name='upstream_datafree_kd')
    adapter.patch_train(kd)
    assert datafree.criterions.KLDiv.__module__ == 'datafree.criterions'   # not swapped
    wrn = datafree.models.classifiers.wresnet
    torch.manual_seed(0)
    teacher, student = wrn.wrn_16_1(num_classes=10).eval(), wrn.wrn_16_1(num_classes=10)
    mean, std = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)
    normalizer = datafree.utils.Normalizer(mean, std)
    synth = datafree.synthesis.DeepInvSyntheiszer(
        teacher, student, num_classes=10, img_size=(3, 32, 32), iterations=2,
        synthesis_batch_size=8, sample_batch_size=8, save_dir=str(tmp_path / 'syn'),
        transform=T.Compose([T.ToTensor(), T.Normalize(mean, std)]),
        normalizer=normalizer, device='cpu')
    criterion = datafree.criterions.KLDiv()     # as main_worker builds it for zskt/dfq/dafl
    gen = datafree.synthesis.GenerativeSynthesizer(
        teacher, student, datafree.models.generator.Generator(nz=16, ngf=8, img_size=32),
        nz=16, img_size=(3, 32, 32), iterations=2, synthesis_batch_size=8, sample_batch_size=8,
        adv=1.0, bn=1.0, oh=1.0, criterion=criterion, normalizer=normalizer, device='cpu')
    optimizer = torch.optim.SGD(student.parameters(), 0.1, momentum=0.9)
    args = types.SimpleNamespace(kd_steps=3, ep_steps=3, gpu=None, fp16=False, print_freq=0,
                                 current_epoch=0, autocast=datafree.utils.dummy_ctx)
    adapter.start_meter()
    synth.synthesize()
    gen.synthesize()                              # adversarial term: criterion(s, t), T = 1
    kd['train'](synth, [student, teacher], criterion, optimizer, args)   # upstream's KD loop
    assert adapter.criterion.iteration == 3 and adapter.criterion.T == criterion.T
    assert adapter.taus == [adapter.sampler(i) for i in range(3)]
    gen.synthesize()
    assert len(adapter.taus) == 3                 # the generator drew no τ
    s_, t_ = torch.randn(4, 10), torch.randn(4, 10)
    assert float(criterion(s_, t_)) == pytest.approx(float(HKDLoss(alpha=1.0)(s_, t_, tau=1.0)),
                                                     rel=1e-5)
    with pytest.raises(TypeError, match='dfad.*Fix: use one of --method'):
        kd['train'](synth, [student, teacher], torch.nn.L1Loss(), optimizer, args)
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


# ------------------------------------------- upstream's whole datafree_kd.py flow, end to end
SHARED_CIFAR10 = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                          '..', 'shared', 'data', 'cifar10')


def _shared_cifar10():
    folder = osp.join(SHARED_CIFAR10, 'cifar-10-batches-py')
    if not (osp.isfile(osp.join(folder, 'test_batch')) and
            any(n.startswith('data_batch_') for n in os.listdir(folder))):
        pytest.skip(f'real CIFAR-10 pickles not found under {osp.abspath(folder)} '
                    '(../shared/data, absent in a fresh clone)')
    return osp.abspath(SHARED_CIFAR10)


def _listing(root):
    out = set()
    for dirpath, dirnames, files in os.walk(root):
        for name in dirnames + files:
            path = osp.join(dirpath, name)
            out.add((osp.relpath(path, root), os.lstat(path).st_mtime_ns))
    return out


@pytest.fixture
def wrapper(monkeypatch):
    """``third_party/run_upstream_cmi.py`` as a module whose adapter instances are recorded; the
    global RNG state upstream's seeding changes is restored afterwards."""
    import random
    path = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'third_party',
                    'run_upstream_cmi.py')
    spec = importlib.util.spec_from_file_location('run_upstream_cmi_under_test', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    made = []

    class Recording(UpstreamCMIAdapter):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(mod, 'UpstreamCMIAdapter', Recording)
    mod.made = made
    state = torch.get_rng_state(), random.getstate(), torch.backends.cudnn.deterministic
    yield mod
    torch.set_rng_state(state[0])
    random.setstate(state[1])
    torch.backends.cudnn.deterministic = state[2]


@pytest.mark.filterwarnings('ignore:This DataLoader will create 4 worker processes')
@pytest.mark.filterwarnings("ignore:'pin_memory' argument is set as true")
@pytest.mark.filterwarnings('ignore:You have chosen to seed training')
@pytest.mark.parametrize('method', ['cmi', 'deepinv'])
def test_upstream_datafree_kd_main_end_to_end_on_cpu(method, tmp_path, wrapper, capsys):
    """The wrapper runs upstream's whole ``datafree_kd.py`` flow (dataset from real CIFAR-10
    pickles through upstream's own ``registry.get_dataset``, teacher from ``--teacher-ckpt``,
    synthesis, KD with our τ, per-epoch evaluation) on the CPU: τ are the sampler's draws,
    records land in the work dir, nothing is written into the checkout."""
    root = _checkout()
    data_root = _shared_cifar10()
    if torch.cuda.is_available():
        pytest.skip('this CPU path test runs where torch sees no CUDA device')
    from mmkd_green.energy import load_run_totals
    from mmkd_green.temperature import UniformTemperature
    UpstreamCMIAdapter(root).install()      # makes upstream's modules importable
    import registry                         # upstream's, from the checkout
    torch.manual_seed(0)
    ckpt = tmp_path / 'teacher.pth'
    if method == 'cmi':       # upstream's layout
        teacher = registry.get_model('wrn16_1', num_classes=10)   # random: the flow is tested
        torch.save(dict(state_dict=teacher.state_dict()), str(ckpt))
    else:                     # ours (an mmengine checkpoint of our WideResNet): converted
        from mmkd_green.classification.backbones import WideResNet
        ours = WideResNet(depth=16, widen_factor=1, num_classes=10)
        torch.save(dict(meta={}, state_dict={f'backbone.{k}': v
                                             for k, v in ours.state_dict().items()}), str(ckpt))
    work_dir = tmp_path / 'work'
    before = _listing(root)
    totals = wrapper.main([
        '--root', root, '--seed', '7', '--work-dir', str(work_dir), '--data-root', data_root,
        '--teacher-ckpt', str(ckpt), '--val-subset', '64', '--',
        '--method', method, '--dataset', 'cifar10', '--teacher', 'wrn16_1', '--student',
        'wrn16_1', '--epochs', '1', '--ep_steps', '2', '--kd_steps', '2', '--g_steps', '2',
        '--batch_size', '16', '--synthesis_batch_size', '16', '--adv', '0.5', '--bn', '1',
        '--oh', '1', '--cr', '0.8', '--cr_T', '0.2', '--T', '20', '--seed', '0', '-j', '0',
        '--save_dir', 'run/' + method])
    adapter = wrapper.made[0]
    sampler = UniformTemperature(2.0, 20.0, seed=7)
    # upstream's train(): kd_steps KD steps, each one criterion call with τ drawn by the sampler
    assert adapter.tau_history == [sampler(i) for i in range(2)]
    assert totals['epochs'] == 1 and totals['tau']['count'] == 2
    assert 0.0 <= totals['metric']['acc1'] <= 100.0
    assert osp.isfile(work_dir / 'carbon' / 'carbon.jsonl')
    assert osp.isfile(work_dir / 'carbon' / 'summary.json')
    saved = load_run_totals(str(work_dir))
    assert saved['epochs'] == 1 and saved['metric'] == totals['metric']
    assert saved['run_info']['val_subset'] == 64
    # upstream's own outputs went to the work dir (its cwd), not to the checkout
    assert osp.isfile(work_dir / 'checkpoints' / f'datafree-{method}' /
                      f'cifar10-wrn16_1-wrn16_1.pth')
    assert len(os.listdir(work_dir / 'run' / method)) == 16
    assert _listing(root) == before, 'upstream wrote into the checkout'
    assert 'Best:' in capsys.readouterr().out
    if method == 'deepinv':   # the converted teacher computes what ours computes
        placed = torch.load(str(work_dir / 'checkpoints' / 'pretrained' /
                                'cifar10_wrn16_1.pth'))['state_dict']
        up = registry.get_model('wrn16_1', num_classes=10).eval()
        up.load_state_dict(placed)
        x = torch.randn(2, 3, 32, 32)
        with torch.no_grad():
            assert torch.equal(up(x), ours.eval()(x))
        # upstream's --resume: its epoch 2 continues the τ stream where epoch 1 ended
        wrapper.main([
            '--root', root, '--seed', '7', '--work-dir', str(work_dir), '--data-root', data_root,
            '--teacher-ckpt', str(ckpt), '--val-subset', '64', '--',
            '--method', method, '--dataset', 'cifar10', '--teacher', 'wrn16_1', '--student',
            'wrn16_1', '--epochs', '2', '--ep_steps', '2', '--kd_steps', '2', '--g_steps', '2',
            '--batch_size', '16', '--adv', '0.5', '--bn', '1', '--oh', '1', '--T', '20',
            '--seed', '0', '-j', '0', '--save_dir', 'run/deepinv_resumed', '--resume',
            f'checkpoints/datafree-{method}/cifar10-wrn16_1-wrn16_1.pth'])
        resumed = wrapper.made[-1]
        assert resumed.tau_history == [sampler(i) for i in range(2, 4)]
        from mmkd_green.energy.records import read_records
        records, _ = read_records(str(work_dir / 'carbon' / 'carbon.jsonl'))
        assert [r['epoch'] for r in records if r.get('type') == 'epoch'] == [1, 2]


def test_upstream_run_explains_missing_inputs(tmp_path):
    """A wrong data folder, a missing teacher and a bad CMI batch size fail before any work."""
    root = _checkout()
    with pytest.raises(FileNotFoundError, match='--data-root'):
        UpstreamCMIAdapter(root, data_root=str(tmp_path / 'nope'))
    empty = tmp_path / 'empty'
    empty.mkdir()
    adapter = UpstreamCMIAdapter(root, data_root=str(empty), work_dir=str(tmp_path / 'w'))
    adapter.install()
    import registry
    with pytest.raises(FileNotFoundError, match=r'empty.*--data-root'):
        registry.get_dataset(name='cifar10', data_root='ignored')
    with pytest.raises(FileNotFoundError, match='--teacher-ckpt'):
        adapter.run(['--method', 'deepinv', '--dataset', 'cifar10', '--teacher', 'wrn16_1'])
    bad = tmp_path / 'bad.pth'
    torch.save({'model': {}}, str(bad))
    adapter = UpstreamCMIAdapter(root, teacher_ckpt=str(bad), work_dir=str(tmp_path / 'w'))
    with pytest.raises(ValueError, match="upstream's layout"):
        adapter.run(['--method', 'deepinv', '--dataset', 'cifar10', '--teacher', 'wrn16_1'])
    # a teacher of the wrong size (ours or upstream's layout) is named before anything runs
    from mmkd_green.classification.backbones import WideResNet
    wrong = tmp_path / 'wrong.pth'
    torch.save(WideResNet(depth=16, widen_factor=2, num_classes=100).state_dict(), str(wrong))
    adapter = UpstreamCMIAdapter(root, teacher_ckpt=str(wrong), work_dir=str(tmp_path / 'w'))
    with pytest.raises(ValueError, match=r'wrn16_1 with 10 classes.*unexpected keys.*'
                                         r'shape mismatches.*Fix:.*convert_wrn.py'):
        adapter.run(['--method', 'deepinv', '--dataset', 'cifar10', '--teacher', 'wrn16_1'])
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': WideResNet(depth=16, widen_factor=1).state_dict()}, str(good))
    adapter = UpstreamCMIAdapter(root, teacher_ckpt=str(good), work_dir=str(tmp_path / 'w'))
    with pytest.raises(ValueError, match='--multiprocessing_distributed.*Fix'):
        adapter.run(['--method', 'deepinv', '--multiprocessing_distributed'])
    with pytest.raises(ValueError, match='--method dfad.*L1Loss.*Fix'):
        adapter.run(['--method', 'dfad'])
    adapter = UpstreamCMIAdapter(root, teacher_ckpt=str(good), work_dir=str(tmp_path / 'w'))
    with pytest.raises(ValueError, match='divide 40960'):
        adapter.run(['--method', 'cmi', '--dataset', 'cifar10', '--teacher', 'wrn16_1',
                     '--batch_size', '48'])
    assert adapter.meter is None          # nothing was started
    # upstream's image pool would mix an earlier run's images into this one: warned
    os.makedirs(tmp_path / 'w' / 'run' / 'synthesis')
    (tmp_path / 'w' / 'run' / 'synthesis' / '0-0.png').write_bytes(b'')
    args = types.SimpleNamespace(data_root='data', dataset='cifar10', teacher='wrn16_1',
                                 method='deepinv', save_dir='run/synthesis', batch_size=16,
                                 synthesis_batch_size=None)
    with pytest.warns(UserWarning, match='fresh --work-dir'):
        adapter.prepare(args)
