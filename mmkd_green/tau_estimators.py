"""Estimators of the τ study: what a grid user gets, and the τ effect, separated from selection luck.

Input: a table of finished runs of one loss arm, each a dict with ``kind`` (``'grid'`` or
``'stochastic'``), ``seed``, ``tau`` (grid), ``sampler`` (stochastic), ``val_metric`` and
``test_metric``. Notation: ``v(τ, s)`` and ``y(τ, s)`` the validation and test score of the grid
run at τ and seed ``s``; ``y_q(s)`` the test score of stochastic sampler ``q`` at seed ``s``;
``S`` the seeds with a complete grid (every τ), ``n = |S|``, ``G`` the number of grid τ.

(a) "What a grid user gets" (selection luck included). Per seed ``τ*_s = argmax_τ v(τ, s)``
    (ties: the smaller τ); the user gets ``y(τ*_s, s)``. Validation and test score the same model,
    so the luck that makes a run win on validation carries to its test score: with no τ effect
    at all, the best of ``G`` runs still lands above its τ's mean.

(b) "The τ effect" (luck removed from the comparison):
    * by mean: ``τ̄ = argmax_τ (1/n) Σ_s v(τ, s)``; ``d_s = y_q(s) − y(τ̄, s)``. One τ for every
      seed, so per-run luck is averaged over ``n`` seeds (some luck remains: ``τ̄`` was chosen
      on the same seeds' validation).
    * leave one seed out (LOSO): ``τ̄_{−s} = argmax_τ (1/(n−1)) Σ_{s'≠s} v(τ, s')``;
      ``d_s = y_q(s) − y(τ̄_{−s}, s)``: the run scored at seed ``s`` had no part in choosing
      its τ, so its luck is not selected for.

Same-cost control (luck on both sides): a user who spends the grid's ``k`` runs on ``k`` seeds
of stochastic sampler ``q`` and keeps the best on validation. Its expected test score over all
``k``-subsets of the ``n`` stochastic runs (runs ranked by validation, ascending, ``i = 1..n``):
``E_k = Σ_{i=k}^{n} C(i−1, k−1) / C(n, k) · y_(i)`` (the best of a random ``k``-subset has rank
``i`` with that probability). Paired per seed by cyclic windows: ``b_s`` = test score of the
validation-best of the stochastic runs at seeds ``s, s+1, …, s+k−1`` (seed order, wrapping);
``d_s = b_s − y(τ*_s, s)``. Windows overlap, so that interval is approximate. ``k`` larger
than ``n`` is not possible with the study's seeds: the best of ``n`` is reported in its place and
labelled so (less luck than the best of ``k`` would have).

Intervals: for paired differences ``d_1..d_n``, ``mean(d) ± t_{0.975, n−1} · sd(d) / √n``
(two-sided 95 % Student t, ``sd`` with ``n − 1``).

One-way ANOVA over τ of the test scores ``y(τ, s)`` (groups: τ; ``scipy.stats.f_oneway``):
``F = [Σ_τ n_τ (ȳ_τ − ȳ)² / (G − 1)] / [Σ_τ Σ_s (y(τ, s) − ȳ_τ)² / (N − G)]``.

Minimum detectable difference of a paired comparison at the study's ``n`` seeds (two-sided
α = 0.05, power 0.8): ``δ = (t_{1−α/2, n−1} + t_{0.8, n−1}) · sd_d / √n``, the usual
t-approximation of the power of the paired t test. ``sd_d`` is the paired comparison's own
``sd(d)``; the study-level ``δ`` uses ``sd_d = √2 · σ_w``, ``σ_w`` the pooled within-τ standard
deviation of the test scores (run-to-run noise, the ANOVA's error term).

Wording (:func:`interval_verdict`) follows the interval only: above / below if it excludes 0,
otherwise "not distinguishable", with the range of differences the interval still allows.
"""
import math
from typing import Dict, List, Optional, Sequence

import numpy as np

ALPHA = 0.05
POWER = 0.8


def _t(q: float, df: int) -> float:
    from scipy import stats
    return float(stats.t.ppf(q, df))


def paired_interval(diffs: Sequence[float], level: float = 0.95) -> dict:
    """Mean of paired differences with its two-sided Student-t interval (see module doc)."""
    d = np.asarray([x for x in diffs if x is not None], dtype=float)
    out = dict(mean=float(d.mean()) if len(d) else None, n=int(len(d)), values=d.tolist(),
               sd=float(d.std(ddof=1)) if len(d) > 1 else None, low=None, high=None)
    if len(d) > 1:
        half = _t(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
        out.update(low=float(d.mean() - half), high=float(d.mean() + half))
    return out


def min_detectable_difference(sd_d: Optional[float], n: int, alpha: float = ALPHA,
                              power: float = POWER) -> Optional[float]:
    """``δ = (t_{1−α/2, n−1} + t_{power, n−1}) · sd_d / √n`` (None when it cannot be formed)."""
    if sd_d is None or n < 2 or not math.isfinite(sd_d):
        return None
    return (_t(1 - alpha / 2, n - 1) + _t(power, n - 1)) * sd_d / math.sqrt(n)


def interval_verdict(iv: dict, unit: str = 'points') -> str:
    """Plain wording from the interval alone (no p-value, no point estimate reading)."""
    lo, hi = iv.get('low'), iv.get('high')
    if lo is None or hi is None:
        return f'no interval (n = {iv.get("n", 0)} paired seeds)'
    if lo > 0:
        return f'stochastic higher: by {lo:+.2f} to {hi:+.2f} {unit}'
    if hi < 0:
        return f'stochastic lower: by {lo:+.2f} to {hi:+.2f} {unit}'
    return (f'not distinguishable: the interval [{lo:+.2f}, {hi:+.2f}] holds 0, so a difference '
            f'anywhere in it is compatible with these runs')


# ------------------------------------------------------------------------------ the table
def grid_table(rows: List[dict]) -> Dict[int, Dict[float, dict]]:
    """``{seed: {τ: run}}`` of the grid runs that have a validation and a test score."""
    out: Dict[int, Dict[float, dict]] = {}
    for r in rows:
        if r.get('kind') == 'grid' and r.get('val_metric') is not None \
                and r.get('test_metric') is not None:
            out.setdefault(int(r['seed']), {})[float(r['tau'])] = r
    return out


def complete_seeds(grid: Dict[int, Dict[float, dict]], taus: Sequence[float]) -> List[int]:
    """Seeds whose grid has every τ of ``taus``."""
    want = {float(t) for t in taus}
    return sorted(s for s, g in grid.items() if want <= set(g))


def _argmax_tau(scores: Dict[float, float]) -> float:
    return max(scores, key=lambda t: (scores[t], -t))   # ties: the smaller τ


def per_seed_choice(grid: Dict[int, Dict[float, dict]], seeds: Sequence[int]) -> Dict[int, float]:
    """(a) ``τ*_s = argmax_τ v(τ, s)`` per seed."""
    return {s: _argmax_tau({t: r['val_metric'] for t, r in grid[s].items()}) for s in seeds}


def by_mean_choice(grid: Dict[int, Dict[float, dict]], seeds: Sequence[int],
                   taus: Sequence[float]) -> Optional[float]:
    """(b) ``τ̄ = argmax_τ mean_s v(τ, s)`` over ``seeds`` (complete grids)."""
    if not seeds:
        return None
    return _argmax_tau({float(t): float(np.mean([grid[s][float(t)]['val_metric']
                                                 for s in seeds])) for t in taus})


def loso_choice(grid: Dict[int, Dict[float, dict]], seeds: Sequence[int],
                taus: Sequence[float]) -> Dict[int, float]:
    """(b) ``τ̄_{−s}``: τ chosen by mean validation over the other seeds (needs ≥ 2 seeds)."""
    if len(seeds) < 2:
        return {}
    return {s: by_mean_choice(grid, [x for x in seeds if x != s], taus) for s in seeds}


def expected_best_of_k(runs: List[dict], k: int) -> Optional[float]:
    """``E_k``: expected test score of the validation-best of a random ``k``-subset of ``runs``
    (exact over all subsets; ties in validation broken by the lower seed)."""
    n = len(runs)
    if k < 1 or k > n:
        return None
    ranked = sorted(runs, key=lambda r: (r['val_metric'], -r['seed']))
    total = math.comb(n, k)
    return float(sum(math.comb(i - 1, k - 1) / total * ranked[i - 1]['test_metric']
                     for i in range(k, n + 1)))


def cyclic_best_of_k(runs_by_seed: Dict[int, dict], seeds: Sequence[int], k: int) -> Dict[int, float]:
    """``b_s``: test score of the validation-best run among seeds ``s .. s+k−1`` (cyclic)."""
    order = [s for s in seeds if s in runs_by_seed]
    n = len(order)
    if k < 1 or k > n:
        return {}
    out = {}
    for i, s in enumerate(order):
        window = [runs_by_seed[order[(i + j) % n]] for j in range(k)]
        best = max(window, key=lambda r: (r['val_metric'], -r['seed']))
        out[s] = float(best['test_metric'])
    return out


def anova_over_tau(grid: Dict[int, Dict[float, dict]], seeds: Sequence[int],
                   taus: Sequence[float]) -> dict:
    """One-way ANOVA of test scores grouped by τ, and the pooled within-τ sd ``σ_w``."""
    groups = [[grid[s][float(t)]['test_metric'] for s in seeds] for t in taus]
    n_total, n_groups = sum(len(g) for g in groups), len(groups)
    out = dict(F=None, p=None, df_between=n_groups - 1, df_within=max(n_total - n_groups, 0),
               sigma_within=None)
    if n_groups < 2 or n_total - n_groups < 1:
        return out
    ss_within = sum(float(np.sum((np.asarray(g) - np.mean(g)) ** 2)) for g in groups)
    out['sigma_within'] = math.sqrt(ss_within / (n_total - n_groups))
    if ss_within > 0:
        from scipy import stats
        res = stats.f_oneway(*groups)
        out.update(F=float(res.statistic), p=float(res.pvalue))
    return out


def _pairs(stoch: Dict[int, dict], ref: Dict[int, float]) -> List[float]:
    return [float(stoch[s]['test_metric']) - ref[s] for s in sorted(ref) if s in stoch]


def estimate_arm(rows: List[dict], taus: Sequence[float], samplers: Sequence[str],
                 control_ks: Sequence[int] = (2, 3)) -> dict:
    """Every estimator of the module doc for one loss arm. ``control_ks``: the ``k`` of the
    same-cost control besides ``k = G`` (the grid's size)."""
    taus = [float(t) for t in taus]
    grid = grid_table(rows)
    seeds = complete_seeds(grid, taus)
    n = len(seeds)
    star = per_seed_choice(grid, seeds)
    y_star = {s: float(grid[s][star[s]]['test_metric']) for s in seeds}
    tau_bar = by_mean_choice(grid, seeds, taus)
    y_bar = {s: float(grid[s][tau_bar]['test_metric']) for s in seeds} if tau_bar else {}
    loso = loso_choice(grid, seeds, taus)
    y_loso = {s: float(grid[s][t]['test_metric']) for s, t in loso.items()}
    anova = anova_over_tau(grid, seeds, taus)
    sd_pair = None if anova['sigma_within'] is None else math.sqrt(2) * anova['sigma_within']
    ks = sorted({len(taus), *[int(k) for k in control_ks]})
    per_sampler = {}
    for q in samplers:
        stoch = {int(r['seed']): r for r in rows if r.get('kind') == 'stochastic'
                 and r.get('sampler') == q and r.get('val_metric') is not None
                 and r.get('test_metric') is not None}
        paired_seeds = [s for s in seeds if s in stoch]
        comp = {}
        for name, ref in (('vs_per_seed_choice', y_star), ('vs_by_mean', y_bar),
                          ('vs_loso', y_loso)):
            iv = paired_interval(_pairs(stoch, ref))
            iv['mdd'] = min_detectable_difference(iv['sd'], iv['n'])
            iv['verdict'] = interval_verdict(iv)
            comp[name] = iv
        controls = []
        runs = [stoch[s] for s in paired_seeds]
        for k in ks:
            k_used = min(k, len(runs))
            b = cyclic_best_of_k(stoch, paired_seeds, k_used)
            iv = paired_interval([b[s] - y_star[s] for s in paired_seeds if s in b])
            iv['verdict'] = interval_verdict(iv)
            controls.append(dict(
                k=k, k_used=k_used, expected_best=expected_best_of_k(runs, k_used),
                note=None if k_used == k else
                f'best of {k} needs {k} seeds, the study has {len(runs)}: best of {k_used} '
                f'reported instead (less selection luck than best of {k})',
                diff_vs_per_seed_choice=iv))
        per_sampler[q] = dict(test_mean=float(np.mean([stoch[s]['test_metric']
                                                       for s in paired_seeds]))
                              if paired_seeds else None,
                              n=len(paired_seeds), **comp, best_of_k=controls)
    return dict(seeds=seeds, n_seeds=n, grid_size=len(taus),
                per_seed_choice={s: dict(tau=star[s], test=y_star[s]) for s in seeds},
                per_seed_choice_mean=float(np.mean(list(y_star.values()))) if seeds else None,
                tau_by_mean=tau_bar, by_mean_test=float(np.mean(list(y_bar.values())))
                if y_bar else None,
                loso_choice=dict(loso), loso_test=float(np.mean(list(y_loso.values())))
                if y_loso else None,
                anova=anova, study_mdd=min_detectable_difference(sd_pair, n),
                alpha=ALPHA, power=POWER, samplers=per_sampler)
