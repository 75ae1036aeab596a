"""``utils.parent_death``: a child armed with the parent-death signal dies when its parent is
killed (SIGKILL: no chance to clean up), and a child whose parent is already gone exits at once
with the caller's code and message."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.fixtures import limits

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.skipif(not sys.platform.startswith('linux'), reason='prctl is Linux')


def _alive(pid: int) -> bool:
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


@pytest.mark.parametrize('sig', ['SIGTERM', 'SIGKILL'])
def test_grandchild_dies_when_its_parent_is_killed(sig):
    # middle process: starts a grandchild armed with die_with_parent(middle), prints its pid, waits
    grandchild = textwrap.dedent(f'''
        import os, sys, time
        sys.path.insert(0, {ROOT!r})
        import signal
        from mmkd_green.utils.parent_death import die_with_parent
        die_with_parent(int(sys.argv[1]), sig=signal.{sig})
        print('armed', flush=True)
        time.sleep(300)
    ''')
    middle = textwrap.dedent(f'''
        import os, subprocess, sys
        p = subprocess.Popen([sys.executable, '-c', {grandchild!r}, str(os.getpid())],
                             stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == 'armed'
        print(p.pid, flush=True)
        sys.stdin.readline()
    ''')
    proc = limits.popen([sys.executable, '-c', middle], stdin=subprocess.PIPE,
                        stdout=subprocess.PIPE, text=True)
    try:
        pid = int(proc.stdout.readline())
        assert _alive(pid)
        proc.kill()                       # the parent dies without any clean-up
        proc.wait(timeout=60)
        deadline = time.monotonic() + 60
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), f'the grandchild {pid} outlived its killed parent'
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=60)


def test_parent_already_gone_exits_with_code_and_message():
    code = ('import os, sys; sys.path.insert(0, {!r}); '
            'from mmkd_green.utils.parent_death import die_with_parent; '
            'die_with_parent(os.getppid() + 1000000, exit_code=7, message="parent gone"); '
            'print("WORKING")').format(ROOT)
    r = limits.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert r.returncode == 7 and r.stdout.strip() == 'parent gone'
    ok = limits.run([sys.executable, '-c', code.replace('os.getppid() + 1000000', 'os.getppid()')],
                    capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout.strip() == 'WORKING'
