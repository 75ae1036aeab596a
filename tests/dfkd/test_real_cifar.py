"""Real data: a small teacher trained on real CIFAR-10 images (3 classes, 16x16) in the test; a
student distilled from DeepInversion images only, on mmengine's Runner, beats chance on held-out
real images. Skips when ../shared/data is absent."""
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.runner import Runner

from mmkd_green.classification.datasets.cifar import load_cifar_batch
from mmkd_green.dfkd import DataFreeDistiller

from dfkd_helpers import TinyBNNet

CLASSES = (0, 1, 6)          # airplane, automobile, frog
SIZE = 16
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


def _load(path, per_class):
    batch = load_cifar_batch(path)
    data = np.asarray(batch['data'], dtype=np.uint8).reshape(-1, 3, 32, 32)
    labels = np.asarray(batch['labels'])
    xs, ys = [], []
    for new, old in enumerate(CLASSES):
        idx = np.flatnonzero(labels == old)[:per_class]
        xs.append(torch.from_numpy(data[idx]))
        ys.append(torch.full((len(idx),), new))
    x = F.avg_pool2d(torch.cat(xs).float() / 255, 2)          # 16x16 keeps the test fast
    return x, torch.cat(ys)


def _norm(x):
    return (x - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)


def _acc(model, x, y):
    model.eval()
    with torch.no_grad():
        return float((model(_norm(x)).argmax(1) == y).float().mean())


@pytest.fixture(scope='module')
def cifar3(shared_data):
    root = osp.join(shared_data, 'cifar10', 'cifar-10-batches-py')
    return _load(osp.join(root, 'data_batch_1'), 700), _load(osp.join(root, 'test_batch'), 200)


def test_student_from_synthetic_images_beats_chance_on_real_cifar(cifar3, tmp_path):
    (x, y), (xt, yt) = cifar3
    torch.manual_seed(0)
    teacher = TinyBNNet(num_classes=3, width=12)
    opt = torch.optim.SGD(teacher.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(0)
    teacher.train()
    for _ in range(100):
        idx = torch.randint(0, len(y), (64,), generator=g)
        loss = F.cross_entropy(teacher(_norm(x[idx])), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    teacher_acc = _acc(teacher, xt, yt)
    assert teacher_acc > 0.6, f'real teacher accuracy {teacher_acc:.2f}'

    synth = dict(type='DeepInversionSynthesizer', num_classes=3, img_size=(3, SIZE, SIZE),
                 mean=MEAN, std=STD, synthesis_batch_size=32, iterations=20, lr=0.1,
                 bn=1.0, oh=1.0, adv=1.0, tv=1e-3, kd_padding=2)
    model = DataFreeDistiller(student=TinyBNNet(num_classes=3, width=8), teacher=teacher,
                              synthesizer=synth)
    runner = Runner(
        model=model, work_dir=str(tmp_path), train_dataloader=dict(batch_size=32),
        train_cfg=dict(type='DataFreeTrainLoop', max_epochs=2, ep_steps=15, kd_steps=15,
                       grid_interval=0),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=5e-4)),
        custom_hooks=[dict(type='TemperatureHook', sampler=dict(type='UniformTemperature'))],
        default_hooks=dict(checkpoint=None), randomness=dict(seed=0), log_level='WARNING')
    runner.train()
    student_acc = _acc(model.student, xt, yt)
    print(f'real CIFAR-10 (3 classes, 16x16): teacher {teacher_acc:.3f}, '
          f'data-free student {student_acc:.3f}')
    assert student_acc > 0.5, f'student accuracy {student_acc:.2f} on real images (chance 0.33)'
