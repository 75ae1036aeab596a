"""Session fixtures of the data-free KD tests (models and data in dfkd_helpers)."""
import pytest
import torch

from dfkd_helpers import MEAN, SIZE, STD, TinyBNNet, accuracy, make_toy, train_classifier


@pytest.fixture(scope='session')
def toy_data():
    return dict(train=make_toy(1024, 0), test=make_toy(512, 1))


@pytest.fixture(scope='session')
def toy_teacher(toy_data):
    torch.manual_seed(0)
    teacher = train_classifier(TinyBNNet(width=8), *toy_data['train'], steps=50, batch=32)
    acc = accuracy(teacher, *toy_data['test'])
    assert acc > 0.95, f'toy teacher failed to train (test acc {acc:.2f})'
    return teacher


@pytest.fixture
def synth_kwargs():
    return dict(img_size=(3, SIZE, SIZE), mean=MEAN, std=STD)
