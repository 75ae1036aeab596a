"""Records that say what they are: torn lines, unfinished runs, per-component methods, clashing
run names, monotonic durations."""
import json
import os.path as osp
import time

import pytest

from mmkd_green.energy import EnergyMeter, load_run_totals
from mmkd_green.energy.records import append_record, read_records
from mmkd_green.energy.report import UnfinishedRunsError, build_table, run_names
from tests.fixtures import limits
from tools.carbon_report import main as carbon_report

from test_report import _make_run


def _drop_final_line(run_dir):
    jsonl = osp.join(run_dir, 'carbon', 'carbon.jsonl')
    lines = open(jsonl).read().splitlines(keepends=True)
    assert json.loads(lines[-1])['type'] == 'final'
    with open(jsonl, 'w') as f:
        f.writelines(lines[:-1])


def test_torn_last_line_is_skipped_and_does_not_swallow_the_next(tmp_path):
    path = str(tmp_path / 'carbon' / 'carbon.jsonl')
    append_record(path, dict(type='start'))
    append_record(path, dict(type='epoch', epoch=1))
    with open(path, 'a') as f:
        f.write('{"type": "epoch", "epo')          # kill -9 in the middle of a write
    assert read_records(path) == ([dict(type='start'), dict(type='epoch', epoch=1)], 1)
    append_record(path, dict(type='start', resumed=True))   # the resumed run appends
    records, torn = read_records(path)
    assert records[-1] == dict(type='start', resumed=True) and torn == 1
    assert len(records) == 3


@pytest.fixture()
def runs(tmp_path):
    root = str(tmp_path / 'no_rapl')
    return [
        _make_run(str(tmp_path / 'tau_2'), dict(type='ConstantTemperature', tau=2.0), [2.0] * 4,
                  1000, 0.5, root),
        _make_run(str(tmp_path / 'uniform'), dict(type='UniformTemperature', low=2.0, high=20.0),
                  [2.5, 7.0, 13.2, 19.9], 1000, 0.7, root),
    ]


def test_report_shows_methods_and_completion_and_refuses_unfinished_ratios(runs, tmp_path):
    rows = carbon_report([*runs, '--out', str(tmp_path / 'r1')])
    by_run = {r['run']: r for r in rows}
    assert by_run['uniform']['finished'] == 'yes' and by_run['tau_2']['finished'] == 'yes'
    assert by_run['uniform']['energy_methods'] == ('cpu estimated (cpu-time), dram unavailable')
    md = open(tmp_path / 'r1' / 'carbon_report.md').read()
    assert '| finished | energy methods |' in md and 'cpu estimated (cpu-time)' in md

    _drop_final_line(runs[0])                       # the grid run crashed
    assert load_run_totals(runs[0])['finished'] is False
    with pytest.raises(UnfinishedRunsError, match=r'ratio grid/uniform: run\(s\) tau_2 did not '
                                                  r'finish.*--allow-unfinished'):
        build_table(runs)
    with pytest.raises(SystemExit, match='tau_2 did not finish'):
        carbon_report([*runs, '--out', str(tmp_path / 'r2')])
    rows = carbon_report([*runs, '--out', str(tmp_path / 'r3'), '--allow-unfinished'])
    by_run = {r['run']: r for r in rows}
    assert by_run['tau_2']['finished'] == 'NO'
    assert 'ratio grid/uniform (UNFINISHED runs)' in by_run


def test_final_line_of_an_aborted_run_says_so(tmp_path):
    meter = EnergyMeter(gpu_devices=None, rapl_root=str(tmp_path / 'none'),
                        cpu_power_per_core_w=5.0).start()
    jsonl = str(tmp_path / 'run' / 'carbon' / 'carbon.jsonl')
    append_record(jsonl, meter.epoch_end(epoch=1))
    append_record(jsonl, meter.stop(finished=False))       # e.g. upstream raised
    totals = load_run_totals(str(tmp_path / 'run'))
    assert totals['finished'] is False and totals['segments'] == 2


def test_same_folder_name_in_different_parents(tmp_path):
    root = str(tmp_path / 'no_rapl')
    a = _make_run(str(tmp_path / 'a' / 'run'), dict(type='ConstantTemperature', tau=2.0),
                  [2.0], 10, 0.5, root)
    b = _make_run(str(tmp_path / 'b' / 'run'), dict(type='UniformTemperature'), [3.0], 10,
                  0.6, root)
    assert run_names([a, b, str(tmp_path / 'c')]) == ['a/run', 'b/run', 'c']
    rows = carbon_report([a, b, '--out', str(tmp_path / 'report')])
    names = [r['run'] for r in rows]
    assert names == ['a/run', 'grid total (1 runs)', 'b/run', 'ratio grid/b/run']
    assert {r['run']: r['metric'] for r in rows}['b/run'] == 'accuracy=0.6'


def test_durations_use_a_monotonic_clock(tmp_path, monkeypatch):
    meter = EnergyMeter(gpu_devices=None, rapl_root=str(tmp_path / 'none'),
                        cpu_power_per_core_w=5.0).start()
    meter.epoch_start()
    clock = iter(range(10 ** 9, 0, -1000))
    monkeypatch.setattr(time, 'time', lambda: float(next(clock)))   # wall clock steps back
    rec = meter.epoch_end()
    monkeypatch.undo()
    meter.stop()
    assert rec['seconds'] >= 0 and rec['train_seconds'] >= 0
    assert rec['time'].endswith('+00:00')                           # timestamps stay wall time


def test_records_are_fsynced_off_the_training_thread_in_order(tmp_path, monkeypatch):
    """append_record returns once the line is written; the file (and, for a new file, its
    folder) is fsynced on the background thread, and wait_durable() waits for it."""
    import os
    import threading
    from mmkd_green.energy.records import wait_durable
    synced = []
    real_fsync = os.fsync

    def fsync(fd):   # the OS call, observed: which path, on which thread
        synced.append((os.readlink(f'/proc/self/fd/{fd}'), threading.current_thread().name))
        real_fsync(fd)

    monkeypatch.setattr(os, 'fsync', fsync)
    path = str(tmp_path / 'carbon' / 'carbon.jsonl')
    append_record(path, dict(type='start'))
    assert read_records(path) == ([dict(type='start')], 0)     # written before it returned
    append_record(path, dict(type='epoch', epoch=1))
    wait_durable()
    assert synced == [(path, 'mmkd-green-fsync'), (str(tmp_path / 'carbon'), 'mmkd-green-fsync'),
                      (path, 'mmkd-green-fsync')]


def test_interpreter_exit_waits_for_pending_fsyncs(tmp_path):
    """A process that appends a record and exits normally does not exit before the fsync."""
    import sys
    marker = tmp_path / 'fsynced'
    script = f'''
import os, time
real = os.fsync
def slow_fsync(fd):
    time.sleep(0.5)
    real(fd)
    open({str(marker)!r}, 'a').write('x')
os.fsync = slow_fsync
from mmkd_green.energy.records import append_record
append_record({str(tmp_path / 'r.jsonl')!r}, dict(type='start'))
'''
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    limits.run([sys.executable, '-c', script], check=True, cwd=root, timeout=120)
    assert marker.read_text() == 'xx'      # the file and its new folder


def test_summary_is_replaced_whole_and_fsynced_in_the_background(tmp_path, monkeypatch):
    import os
    import threading
    from mmkd_green.energy.records import wait_durable, write_json_atomic
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        synced.append((os.readlink(f'/proc/self/fd/{fd}'), threading.current_thread().name))
        real_fsync(fd)

    monkeypatch.setattr(os, 'fsync', fsync)
    path = tmp_path / 'summary.json'
    write_json_atomic(str(path), dict(a=1), derived=True)
    assert json.loads(path.read_text()) == dict(a=1)          # in place when it returns
    wait_durable()
    assert synced == [(str(path), 'mmkd-green-fsync'), (str(tmp_path), 'mmkd-green-fsync')]
    assert os.listdir(tmp_path) == ['summary.json']            # no temporary file left
    synced.clear()
    write_json_atomic(str(path), dict(a=2))                   # a result file: fsynced at once
    assert [t for _, t in synced] == [threading.current_thread().name] * 2


def _append_in_child(path, marker):
    import os
    import time
    real = os.fsync

    def slow_fsync(fd):
        time.sleep(0.3)
        real(fd)
        with open(marker, 'a') as f:
            f.write('x')

    os.fsync = slow_fsync
    append_record(path, dict(type='start'))


def test_a_forked_child_waits_for_its_fsyncs_before_os_exit(tmp_path):
    """multiprocessing's fork children end with os._exit (no atexit): the pending fsyncs of
    records the child wrote still run before it exits."""
    import multiprocessing as mp
    marker = tmp_path / 'fsynced'
    child = mp.get_context('fork').Process(
        target=_append_in_child, args=(str(tmp_path / 'c' / 'r.jsonl'), str(marker)))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    assert marker.read_text() == 'xx'      # the file and its new folder
