"""Fixtures shared by every test.

Layout: ``tests/<name>/`` mirrors ``mmkd_green/<name>/`` (``tests/apis/`` covers ``apis.py``), as
plain folders without ``__init__.py``. A folder's fixtures live in its ``conftest.py``, its helper
functions in ``*_helpers.py`` modules (unique names, imported absolutely, e.g.
``from cls_helpers import shrink``; every test folder is on ``sys.path``, so a folder may use
another's helpers). ``tests/fixtures/`` is the one package: configs import
``tests.fixtures.toy_kd`` by name.
"""
import os
import os.path as osp
import signal
import socket
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
for _name in sorted(os.listdir(osp.join(ROOT, 'tests'))):
    _folder = osp.join(ROOT, 'tests', _name)
    if osp.isdir(_folder) and not _name.startswith(('_', '.')) and _name != 'fixtures' \
            and _folder not in sys.path:
        sys.path.append(_folder)
os.environ.setdefault('OMP_NUM_THREADS', '2')

SHARED_DATA = osp.join(ROOT, '..', 'shared', 'data')


def _become_subreaper() -> None:
    """Orphaned grandchildren (a killed launcher's ranks) become pytest's children, so that the
    end-of-test sweep below finds and kills them (Linux ``PR_SET_CHILD_SUBREAPER``)."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


_become_subreaper()


@pytest.fixture(scope='session')
def repo_root():
    return ROOT


@pytest.fixture(scope='session')
def shared_data():
    """``../shared/data`` (real CIFAR-10 and BCCD); tests that need it skip when it is absent."""
    if not osp.isdir(SHARED_DATA):
        pytest.skip(f'../shared/data not found at {osp.abspath(SHARED_DATA)} (a fresh clone has none)')
    return osp.abspath(SHARED_DATA)


@pytest.fixture
def free_port():
    """A function returning a free TCP port on 127.0.0.1 (for torch.distributed rendezvous)."""
    def port() -> int:
        with socket.socket() as s:
            s.bind(('127.0.0.1', 0))
            return s.getsockname()[1]
    return port


def _descendants(pid: int) -> list:
    """Pids of the live descendants of ``pid`` (from /proc), children first."""
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                stat = f.read()
            with open(f'/proc/{entry}/cmdline', 'rb') as f:
                cmd = f.read()
        except OSError:
            continue
        fields = stat.rsplit(')', 1)[1].split()
        if fields[0] != 'Z' and b'resource_tracker' not in cmd and b'forkserver' not in cmd:
            children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@pytest.fixture(autouse=True)
def _no_child_outlives_its_test(request):
    """Nothing a test starts outlives it: children still alive at its end are killed (and the
    test is told). Children started through ``tests.fixtures.limits`` also die with pytest."""
    yield
    if not osp.isdir('/proc'):
        return
    left = _descendants(os.getpid())
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if left:
        import warnings
        warnings.warn(f'{request.node.nodeid} left {len(left)} child process(es) running: killed')


@pytest.fixture(autouse=True)
def _fresh_default_scope():
    """Every test starts without a leftover mmengine DefaultScope from another test's runner."""
    yield
    from mmengine.registry import DefaultScope
    DefaultScope._instance_dict.clear()
