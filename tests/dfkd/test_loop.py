"""The data-free loop on mmengine's Runner: τ hook, PNG grids, student accuracy, resume."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.registry import HOOKS
from mmengine.runner import Runner

from mmkd_green.dfkd import DataFreeDistiller
from mmkd_green.temperature import TemperatureHook

from dfkd_helpers import MEAN, NUM_CLASSES, SIZE, STD, TinyBNNet, accuracy

BATCH, ROUND, EP_STEPS, KD_STEPS = 32, 32, 8, 4
ITERS = 2 * EP_STEPS


def _cmi(iterations=10):
    return dict(type='CMISynthesizer', num_classes=NUM_CLASSES, img_size=(3, SIZE, SIZE),
                mean=MEAN, std=STD, synthesis_batch_size=ROUND, iterations=iterations, lr=5e-2,
                generator=dict(type='DCGANGenerator', nz=32, ngf=16, img_size=SIZE),
                feature_bank_size=512, n_neg=64, head_dim=32, kd_padding=2)


def _runner(work_dir, teacher, max_epochs, seed=0, hooks=()):
    torch.manual_seed(seed)
    model = DataFreeDistiller(student=TinyBNNet(width=8), teacher=teacher, synthesizer=_cmi())
    return Runner(
        model=model, work_dir=str(work_dir), experiment_name=f'dfkd_{seed}',
        train_dataloader=dict(batch_size=BATCH),
        train_cfg=dict(type='DataFreeTrainLoop', max_epochs=max_epochs, ep_steps=EP_STEPS,
                       kd_steps=KD_STEPS, grid_interval=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4)),
        custom_hooks=[dict(type='TemperatureHook',
                           sampler=dict(type='UniformTemperature', low=2.0, high=20.0)),
                      *hooks],
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1),
                           logger=dict(type='LoggerHook', interval=KD_STEPS)),
        randomness=dict(seed=seed), log_level='WARNING')


@pytest.fixture(scope='module')
def trained(toy_teacher, tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('dfkd_run')
    hooks = [dict(type='CarbonFootprintHook')] if 'CarbonFootprintHook' in HOOKS else []
    runner = _runner(work_dir, toy_teacher, max_epochs=2, hooks=hooks)
    runner.train()
    return runner, work_dir


def test_student_distilled_from_synthetic_images_only_beats_chance(trained, toy_data):
    runner, _ = trained
    acc = accuracy(runner.model.student, *toy_data['test'])
    assert acc > 2.0 / NUM_CLASSES, f'student accuracy {acc:.2f} on real test images'


def test_every_kd_step_gets_the_shared_tau(trained):
    runner, _ = trained
    assert runner.iter == ITERS and runner.epoch == 2
    taus = runner.message_hub.get_scalar('train/tau').data[0]
    assert len(taus) == ITERS and (taus >= 2).all() and (taus <= 20).all()
    hook = next(h for h in runner.hooks if isinstance(h, TemperatureHook))
    assert taus.tolist() == pytest.approx([hook.sampler(i) for i in range(ITERS)])
    # two synthesis rounds per epoch, each appending ROUND images
    assert len(runner.model.synthesizer.bank) == 4 * ROUND
    assert runner.message_hub.get_scalar('train/synth_bn').data[0].size == 4
    # synthesis FLOPs per round: they grow while the feature bank fills (0, 32, 64 cached rows
    # of n_neg=64; the 4th round reuses the 3rd's count), accumulated over the 4 rounds
    per_round = runner.message_hub.get_scalar('train/synth_flops').data[0].tolist()
    assert per_round[0] < per_round[1] < per_round[2] == per_round[3]
    assert runner.train_loop.synthesis_flops.counted_rounds == 3
    assert runner.message_hub.get_info('dfkd_synthesis_flops') == sum(per_round)


def test_meter_counts_synthesis_as_training_flops(trained):
    from mmkd_green.energy.records import read_records
    runner, work_dir = trained
    f = runner.message_hub.get_scalar('train/synth_flops').data[0].tolist()
    records, _ = read_records(osp.join(str(work_dir), 'carbon', 'carbon.jsonl'))
    epochs = [r for r in records
               if r.get('type') == 'epoch']
    assert [r['extra_train_flops'] for r in epochs] == [f[0] + f[1], f[2] + f[3]]
    assert all(r['train_flops'] > r['extra_train_flops'] for r in epochs)   # + KD steps


def test_png_grid_per_epoch(trained):
    _, work_dir = trained
    grids = sorted(glob.glob(osp.join(str(work_dir), 'synthetic', 'epoch_*.png')))
    assert [osp.basename(g) for g in grids] == ['epoch_1.png', 'epoch_2.png']
    from PIL import Image
    assert Image.open(grids[0]).size[0] > SIZE * 5


def test_meter_brackets_every_epoch(trained):
    if 'CarbonFootprintHook' not in HOOKS:
        pytest.skip('mmkd_green.energy has no CarbonFootprintHook yet')
    _, work_dir = trained
    from mmkd_green.energy import load_run_totals
    totals = load_run_totals(str(work_dir))
    assert totals['epochs'] == 2 and totals['energy_kwh'] > 0
    assert totals['seconds'] > 0


def test_resume_restores_student_generator_and_banks(trained, toy_teacher, tmp_path):
    runner, work_dir = trained
    ckpt = osp.join(str(work_dir), 'epoch_2.pth')
    saved = runner.model.synthesizer
    fresh = _runner(tmp_path, toy_teacher, max_epochs=3, seed=7)
    synth = fresh.model.synthesizer
    assert len(synth.bank) == 0
    fresh.resume(ckpt)
    assert fresh.epoch == 2 and fresh.iter == ITERS
    assert torch.equal(synth.bank.images(), saved.bank.images())
    # the checkpoint refers to the round files (no banks inside); features come back as float16
    state = torch.load(ckpt, map_location='cpu', weights_only=False)['state_dict']
    extra = state['_extra_state']['synthesizer']['_extra_state']
    assert 'bank' not in extra and 'feature_bank' not in extra and len(extra['round_files']) == 4
    assert all(osp.isfile(f) and f.startswith(str(work_dir)) for f in extra['round_files'])
    from mmkd_green.dfkd.synthesis.round_store import FEATURE_RTOL
    assert torch.allclose(synth.feature_bank.data, saved.feature_bank.data, rtol=FEATURE_RTOL,
                          atol=2.0 ** -24)
    assert synth.feature_bank._ptr == saved.feature_bank._ptr
    for (k, a), b in zip(saved.generator.state_dict().items(), synth.generator.state_dict().values()):
        assert torch.equal(a, b), k
    for a, b in zip(saved.head.parameters(), synth.head.parameters()):
        assert torch.equal(a, b)
    assert synth.head_optimizer.state_dict()['state'].keys() == \
        saved.head_optimizer.state_dict()['state'].keys()
    for a, b in zip(runner.model.student.parameters(), fresh.model.student.parameters()):
        assert torch.equal(a, b)
    fresh.train()                     # one more epoch continues from the restored bank
    assert fresh.epoch == 3 and len(synth.bank) == 6 * ROUND
    # per-round synthesis FLOPs as the uninterrupted run reports them (bank full: last count)
    assert fresh.train_loop.synthesis_flops_per_round == \
        runner.message_hub.get_scalar('train/synth_flops').data[0][-1]
    assert torch.equal(synth.bank.images()[:4 * ROUND], saved.bank.images())
