"""Safe to rerun and to share: the per-run lock, a child that outlives its parent before arming
PR_SET_PDEATHSIG, a failed run recorded while the study goes on, the progress bar counting only
runs to train, --report-only naming incomplete grids, and a cached teacher whose checkpoint is
gone being retrained."""
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest

from cls_helpers import ROOT, write_cifar
from mmkd_green import tau_study
from mmkd_green.utils.run_lock import RunLock
from tests.fixtures import limits
from test_tau_study import _study_file


def test_run_lock_is_exclusive_across_processes(tmp_path):
    path = str(tmp_path / 'run.lock')
    holder = limits.popen(
        [sys.executable, '-c', textwrap.dedent(f'''
            import sys
            sys.path.insert(0, {ROOT!r})
            from mmkd_green.utils.run_lock import RunLock
            lock = RunLock({path!r})
            assert lock.try_acquire()
            print('held', flush=True)
            sys.stdin.readline()
        ''')], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        lock = RunLock(path)
        assert not lock.try_acquire() and lock.holder() == holder.pid
        holder.stdin.write('\n')
        holder.stdin.flush()
        holder.wait(timeout=60)
        assert lock.try_acquire()      # released when its holder ends
        lock.release()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait(timeout=60)


def test_child_whose_parent_is_gone_does_not_train():
    code = ('import os, sys; sys.path.insert(0, {!r}); '
            'from mmkd_green.tau_study import die_with_parent; '
            'die_with_parent({}); print("TRAINING")')
    gone = limits.run([sys.executable, '-c', code.format(ROOT, 'os.getppid() + 1000000')],
                      capture_output=True, text=True)
    assert gone.returncode == 3 and "TRAINING" not in gone.stdout and 'is gone' in gone.stdout
    alive = limits.run([sys.executable, '-c', code.format(ROOT, 'os.getppid()')],
                       capture_output=True, text=True)
    assert alive.returncode == 0 and "TRAINING" in alive.stdout


def test_failed_run_recorded_study_goes_on_and_teacher_retrained(tmp_path, capsys):
    root = tmp_path / 'cifar'
    write_cifar(str(root / 'cifar-10-batches-py'), n_batches=2, per_batch=40)
    path = _study_file(tmp_path, str(root), taus=(2,), seeds=(0,))
    # a second sampler whose type does not exist: its run fails inside training
    text = open(path).read().replace(
        "stochastic = dict(uniform=dict(type='UniformTemperature', low=2.0, high=20.0))",
        "stochastic = dict(uniform=dict(type='UniformTemperature', low=2.0, high=20.0), "
        "broken=dict(type='NoSuchTemperature'))")
    open(path, 'w').write(text)
    study = tau_study.load_study(path)
    out = str(tmp_path / 'out')
    report = tau_study.run_study(study, out, progress=False, fork=False)
    assert [f['label'] for f in report['failed']] == ['hkd_broken_s0']
    assert sorted(r['label'] for r in report['runs']) == ['hkd_tau2_s0', 'hkd_uniform_s0',
                                                          'teacher']
    assert report['incomplete'] == [dict(arm='hkd', seed=0, missing=['hkd_broken_s0'],
                                         failed=['hkd_broken_s0'])]
    md = open(report['tables']['md']).read()
    assert 'Failed runs' in md and 'Incomplete grids' in md and 'Interim report' in md
    assert 'ANOVA of the test score over τ: n/a (needs 2 seeds with a complete grid)' in md
    # --report-only names the incomplete grid too
    again = tau_study.report_from_finished(study, out)
    assert again['incomplete'][0]['missing'] == ['hkd_broken_s0']
    # the rerun: the bar counts only the run to train (cached ones take no time)
    capsys.readouterr()
    tau_study.run_study(study, out, progress=True, fork=False)
    err = capsys.readouterr().err
    assert '2 runs cached' in err and '1/1' in err   # KD runs; the teacher comes first
    # a cached teacher whose checkpoint is gone is retrained, and so are its KD runs
    teacher = tau_study.plan(study, out)[0]
    os.remove(tau_study.teacher_checkpoint(teacher))
    assert tau_study.load_result(teacher) is None
    third = tau_study.run_study(study, out, progress=False, fork=False)
    runs = {r['label']: r for r in third['runs']}
    assert not runs['teacher']['cached'] and osp.isfile(tau_study.teacher_checkpoint(teacher))
    assert not runs['hkd_tau2_s0']['cached']
