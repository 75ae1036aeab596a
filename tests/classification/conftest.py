"""Fixtures of the classification tests (helpers live in cls_helpers.py)."""
import os.path as osp

import pytest

from cls_helpers import write_cifar


@pytest.fixture(scope='session')
def cifar10_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('cifar10')
    write_cifar(osp.join(root, 'cifar-10-batches-py'))
    return str(root)
