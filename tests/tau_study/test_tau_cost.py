"""The τ study's cost from medians: student-only and end-to-end (teacher included) ratios, and
the flag on runs slowed by machine load."""
import pytest

from mmkd_green import tau_cost


def _run(label, kind, seconds, kwh, sampler=None):
    return dict(label=label, kind=kind, sampler=sampler, seconds=seconds, energy_kwh=kwh,
                co2_g=kwh * 500, train_flops=10.0)


def test_ratios_from_medians_with_and_without_teacher_and_slow_flags():
    # grid runs: 100 s each but one at 250 s (a load artifact); stochastic: 90, 100, 110 s
    grid = [_run(f'g{i}', 'grid', s, s / 1000) for i, s in enumerate((100, 100, 250, 100))]
    st = [_run(f'u{i}', 'stochastic', s, s / 1000, 'u') for i, s in enumerate((90, 100, 110))]
    teacher = dict(seconds=200.0, energy_kwh=0.2, co2_g=100.0, train_flops=30.0)
    c = tau_cost.arm_cost(grid + st, teacher, grid_size=4, samplers=['u'])
    assert c['median_grid_run']['seconds'] == 100.0          # the slow run does not move it
    u = c['samplers']['u']
    assert u['median_run']['seconds'] == 100.0
    assert u['grid']['student_only_ratio']['seconds'] == pytest.approx(4.0)
    # end to end: (200 + 4·100) / (200 + 100) = 2
    assert u['grid']['end_to_end_ratio']['seconds'] == pytest.approx(2.0)
    assert u['paper_grid']['student_only_ratio']['train_flops'] == pytest.approx(20.0)
    # (30 + 20·10) / (30 + 10)
    assert u['paper_grid']['end_to_end_ratio']['train_flops'] == pytest.approx(230 / 40)
    assert [r['label'] for r in c['slow_runs']] == ['g2']
    assert c['slow_runs'][0]['times_median'] == pytest.approx(2.5)
    text = '\n'.join(tau_cost.cost_markdown(c))
    assert 'end to end: ratio' in text and 'g2 (2.50×)' in text


def test_without_a_teacher_end_to_end_is_left_out():
    rows = [_run('g', 'grid', 10, 0.01), _run('u', 'stochastic', 10, 0.01, 'u')]
    c = tau_cost.arm_cost(rows, None, grid_size=1, samplers=['u'])
    assert c['samplers']['u']['grid']['end_to_end_ratio']['seconds'] is None
    assert c['samplers']['u']['grid']['student_only_ratio']['seconds'] == pytest.approx(1.0)
    assert c['slow_runs'] == []
