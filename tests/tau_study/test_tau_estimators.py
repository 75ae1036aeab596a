"""The τ study's estimators on synthetic tables with a known answer: (a) the per-seed grid
choice, (b) τ by mean validation and leave-one-seed-out, the best-of-k control, the ANOVA over
τ, the minimum detectable difference, and the pure-luck case (no τ effect at all)."""
import math
from itertools import combinations

import numpy as np
import pytest

from mmkd_green import tau_estimators as te


def _grid(seed, tau, val, test):
    return dict(kind='grid', seed=seed, tau=float(tau), val_metric=val, test_metric=test)


def _stoch(seed, val, test, sampler='u'):
    return dict(kind='stochastic', seed=seed, sampler=sampler, val_metric=val, test_metric=test)


def test_known_answer_table():
    # 3 seeds, τ ∈ {2, 8}. Validation: seed 0 prefers τ = 8 (lucky run), seeds 1, 2 prefer τ = 2.
    rows = [_grid(0, 2, 50, 50), _grid(0, 8, 55, 54),
            _grid(1, 2, 52, 51), _grid(1, 8, 50, 49),
            _grid(2, 2, 51, 50), _grid(2, 8, 49, 48),
            _stoch(0, 50, 50), _stoch(1, 50, 51), _stoch(2, 50, 52)]
    e = te.estimate_arm(rows, [2, 8], ['u'], control_ks=(2, 3))
    # (a) per seed: τ* = 8, 2, 2; tests 54, 51, 50; stochastic − chosen = −4, 0, +2
    assert {s: v['tau'] for s, v in e['per_seed_choice'].items()} == {0: 8.0, 1: 2.0, 2: 2.0}
    a = e['samplers']['u']['vs_per_seed_choice']
    assert a['values'] == [-4.0, 0.0, 2.0] and a['mean'] == pytest.approx(-2 / 3)
    half = 4.302653 * np.std([-4, 0, 2], ddof=1) / math.sqrt(3)      # t_{0.975, 2}
    assert (a['low'], a['high']) == pytest.approx((-2 / 3 - half, -2 / 3 + half), rel=1e-5)
    # (b) by mean: val means τ=2: 51, τ=8: 51.33 → τ̄ = 8; tests 54, 49, 48 → d = −4, +2, +4
    assert e['tau_by_mean'] == 8.0
    assert e['samplers']['u']['vs_by_mean']['values'] == [-4.0, 2.0, 4.0]
    # LOSO: without seed 0: τ=2 (51.5 vs 49.5); without seed 1: τ=8 (52 vs 50.5);
    # without seed 2: τ=8 (52.5 vs 51) → tests 50, 49, 48 → d = 0, +2, +4
    assert e['loso_choice'] == {0: 2.0, 1: 8.0, 2: 8.0}
    assert e['samplers']['u']['vs_loso']['values'] == [0.0, 2.0, 4.0]
    # best-of-k: stochastic validation all tied → the lowest seed of a subset wins it:
    # pairs {0,1}, {0,2}, {1,2} → tests 50, 50, 51
    controls = {c['k']: c for c in e['samplers']['u']['best_of_k']}
    assert set(controls) == {2, 3} and controls[2]['expected_best'] == pytest.approx(151 / 3)
    assert controls[2]['note'] is None


def test_expected_best_of_k_is_the_mean_over_all_subsets():
    rng = np.random.default_rng(3)
    runs = [dict(seed=s, val_metric=float(v), test_metric=float(t))
            for s, (v, t) in enumerate(rng.normal(size=(6, 2)))]
    for k in range(1, 7):
        brute = np.mean([max(c, key=lambda r: r['val_metric'])['test_metric']
                         for c in combinations(runs, k)])
        assert te.expected_best_of_k(runs, k) == pytest.approx(brute)
    assert te.expected_best_of_k(runs, 7) is None


def test_best_of_k_larger_than_the_seeds_says_so():
    rows = [_grid(s, t, 50 + s + t, 50 + s) for s in range(3) for t in (1, 2, 4, 8)]
    rows += [_stoch(s, 50 + s, 49 + s) for s in range(3)]
    e = te.estimate_arm(rows, [1, 2, 4, 8], ['u'], control_ks=(2,))
    c4 = next(c for c in e['samplers']['u']['best_of_k'] if c['k'] == 4)
    assert c4['k_used'] == 3 and 'best of 4 needs 4 seeds' in c4['note']
    assert c4['expected_best'] == pytest.approx(51.0)   # seed 2 is best on validation


def test_anova_and_minimum_detectable_difference():
    rows = [_grid(s, 2, 0.0, y) for s, y in enumerate((1, 2, 3))]
    rows += [_grid(s, 8, 0.0, y) for s, y in enumerate((4, 5, 6))]
    an = te.anova_over_tau(te.grid_table(rows), [0, 1, 2], [2, 8])
    # between: 3·(2 − 3.5)² + 3·(5 − 3.5)² = 13.5 on 1 df; within: 4 on 4 df → F = 13.5
    assert an['F'] == pytest.approx(13.5) and (an['df_between'], an['df_within']) == (1, 4)
    assert an['sigma_within'] == pytest.approx(1.0)
    # δ = (t_{0.975,4} + t_{0.8,4}) · sd / √n = (2.776445 + 0.940965) · 1 / √5
    assert te.min_detectable_difference(1.0, 5) == pytest.approx(
        (2.776445 + 0.940965) / math.sqrt(5), rel=1e-5)
    assert te.min_detectable_difference(None, 5) is None


def test_pure_luck_best_of_n_gains_but_the_tau_effect_does_not():
    """No τ effect at all: every τ and the sampler have the same mean. Each run has its own luck
    ``u`` shared by its validation and test scores (same model). The per-seed best of 7 on
    validation carries that luck to test, so (a) shows the stochastic sampler below the grid
    with an interval excluding 0; (b) (leave-one-seed-out) and the same-cost best-of-7 control
    show no difference (their intervals hold 0)."""
    rng = np.random.default_rng(0)
    taus, n = [1, 2, 4, 6, 8, 12, 20], 40
    rows = []
    for s in range(n):
        for t in taus + ['stochastic']:
            u = rng.normal(0, 2.0)
            val, test = 50 + u + rng.normal(0, 0.5), 50 + u + rng.normal(0, 0.5)
            rows.append(_stoch(s, val, test) if t == 'stochastic' else _grid(s, t, val, test))
    e = te.estimate_arm(rows, taus, ['u'], control_ks=(2, 3))
    u = e['samplers']['u']
    assert u['vs_per_seed_choice']['high'] < 0                        # luck looks like τ
    assert 'stochastic lower' in u['vs_per_seed_choice']['verdict']
    assert u['vs_loso']['low'] < 0 < u['vs_loso']['high']             # no τ effect
    assert 'not distinguishable' in u['vs_loso']['verdict']
    best7 = next(c for c in u['best_of_k'] if c['k'] == 7)
    assert best7['k_used'] == 7
    iv = best7['diff_vs_per_seed_choice']
    assert iv['low'] < 0 < iv['high']                                 # luck on both sides
    assert e['anova']['p'] > 0.05


def test_published_2epoch_study_reproduces_the_reviews_numbers():
    """The review of issue 21 recomputed results/tau_study_cpu_2epoch/study.csv independently;
    the estimators, fed the same committed table, give its numbers."""
    import os.path as osp
    from mmkd_green.tau_study import read_study_csv
    root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    rows = [r for r in read_study_csv(osp.join(root, 'results', 'tau_study_cpu_2epoch',
                                               'study.csv')) if r['kind'] != 'teacher']
    e = te.estimate_arm(rows, [1, 2, 3, 4, 6, 8, 10, 13, 16, 20],
                        ['uniform', 'integer', 'per_sample'])
    assert e['tau_by_mean'] == 6.0 and e['n_seeds'] == 3
    assert e['anova']['F'] == pytest.approx(1.84, abs=0.005)
    assert e['anova']['p'] == pytest.approx(0.12, abs=0.005)
    s = e['samplers']
    # (a) as published: uniform −5.35; (b) by mean: −4.23 [−9.06, +0.60], −0.16 [−2.36, +2.04],
    # −1.64; leave one seed out: −2.01, +2.06, +0.57
    assert s['uniform']['vs_per_seed_choice']['mean'] == pytest.approx(-5.35, abs=0.005)
    by_mean = s['uniform']['vs_by_mean']
    assert (by_mean['mean'], by_mean['low'], by_mean['high']) == pytest.approx(
        (-4.23, -9.06, 0.60), abs=0.005)
    integer = s['integer']['vs_by_mean']
    assert (integer['mean'], integer['low'], integer['high']) == pytest.approx(
        (-0.16, -2.36, 2.04), abs=0.005)
    assert s['per_sample']['vs_by_mean']['mean'] == pytest.approx(-1.64, abs=0.005)
    assert [s[q]['vs_loso']['mean'] for q in ('uniform', 'integer', 'per_sample')] == \
        pytest.approx([-2.01, 2.06, 0.57], abs=0.005)
    # the chosen runs sit 1.44 points above their own τ's mean (selection luck)
    means = {t: np.mean([r['test_metric'] for r in rows if r['kind'] == 'grid' and r['tau'] == t])
             for t in {r['tau'] for r in rows if r['kind'] == 'grid'}}
    lift = np.mean([c['test'] - means[c['tau']] for c in e['per_seed_choice'].values()])
    assert lift == pytest.approx(1.44, abs=0.005)
