"""tools/carbon_report.py over a τ study's folders after a crash (issue 23): one bad folder or a
bad line no longer aborts the report; each is skipped and named (real CLI runs)."""
import os.path as osp
import sys

import pytest

from mmkd_green.energy.records import read_records_checked
from tests.fixtures import limits

from test_report import _make_run


def _report(repo_root, args, out):
    return limits.run([sys.executable, 'tools/carbon_report.py', *map(str, args), '--out',
                           str(out)], cwd=repo_root, capture_output=True, text=True, timeout=120)


@pytest.fixture()
def study(tmp_path):
    """runs/tau_2, runs/uniform (finished), runs/tau_2.crashed-1 (records, no final line) and
    runs/tau_8.crashed-1 (crashed before the meter wrote anything)."""
    root, runs = str(tmp_path / 'no_rapl'), tmp_path / 'runs'
    _make_run(str(runs / 'tau_2'), dict(type='ConstantTemperature', tau=2.0), [2.0] * 4, 1000,
              0.5, root)
    _make_run(str(runs / 'uniform'), dict(type='UniformTemperature', low=2.0, high=20.0),
              [2.5, 7.0, 13.2, 19.9], 1000, 0.7, root)
    crashed = _make_run(str(runs / 'tau_2.crashed-1'), dict(type='ConstantTemperature', tau=2.0),
                        [2.0] * 4, 1000, 0.5, root)
    jsonl = osp.join(crashed, 'carbon', 'carbon.jsonl')
    lines = open(jsonl).read().splitlines(keepends=True)
    open(jsonl, 'w').writelines(lines[:-1])          # no final line: it crashed
    (runs / 'tau_8.crashed-1').mkdir()
    (runs / 'study.json').write_text('{}')           # runs/* also matches files
    return runs


def test_crashed_folders_do_not_abort_the_report(study, tmp_path, repo_root):
    proc = _report(repo_root, sorted(study.iterdir()), tmp_path / 'out')
    assert proc.returncode == 0, proc.stderr
    assert 'Traceback' not in proc.stderr
    assert f'{study / "tau_8.crashed-1"}: skipped (no carbon records' in proc.stderr
    assert f'{study / "study.json"}: skipped (not a folder)' in proc.stderr
    assert 'tau_2.crashed-1: a crashed attempt' in proc.stderr
    md = open(tmp_path / 'out' / 'carbon_report.md').read()
    assert '| tau_2.crashed-1 | crashed |' in md
    assert 'grid total (1 runs)' in md and '| ratio grid/uniform |' in md


BAD_LINES = [b'null\n', b'\xff\xfe\n', b'[1, 2]\n',
             b'{"type": "epoch", "energy_kwh": "0.5", "co2_g": 1}\n',
             b'{"type": "epoch", "components": {"cpu": {"energy_j": "9"}}}\n']


def test_bad_lines_are_skipped_and_named(study, tmp_path, repo_root):
    run = study / 'uniform'
    jsonl = run / 'carbon' / 'carbon.jsonl'
    good, _ = read_records_checked(str(jsonl))
    lines = open(jsonl, 'rb').read().splitlines(keepends=True)
    open(jsonl, 'wb').writelines(lines[:2] + BAD_LINES + lines[2:])     # lines 3-7
    records, problems = read_records_checked(str(jsonl))
    assert records == good and [n for n, _ in problems] == [3, 4, 5, 6, 7]
    assert [why.split(' (')[0] for _, why in problems] == [
        'not a JSON object', 'not UTF-8', 'not a JSON object',
        '"energy_kwh" is \'0.5\', not a number',
        "components.cpu.energy_j is '9', not a number"]
    proc = _report(repo_root, [study / 'tau_2', run], tmp_path / 'out')
    assert proc.returncode == 0, proc.stderr
    assert f'{jsonl}: skipped 5 bad line(s): line 3 (' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_no_readable_folder_is_an_error_naming_each(tmp_path, repo_root):
    (tmp_path / 'a.crashed-1').mkdir()
    proc = _report(repo_root, [tmp_path / 'a.crashed-1', tmp_path / 'nothing'], tmp_path / 'out')
    assert proc.returncode == 1 and 'Traceback' not in proc.stderr
    assert 'no run folder among' in proc.stderr or 'no run folder with readable' in proc.stderr
    assert 'a.crashed-1' in proc.stderr
