"""The τ study's cost from medians: student-only and end-to-end (teacher included) ratios, and
the flag on runs slowed by machine load."""
import pytest
import torch

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


class _LinearKD(torch.nn.Module):
    """A KD model whose FLOPs are known: teacher and student are Linear(4 -> 10)."""

    def __init__(self):
        super().__init__()
        self.student = torch.nn.Linear(4, 10)
        self.frozen = torch.nn.Linear(4, 10).requires_grad_(False)

    @torch.no_grad()
    def teacher_logits(self, x):
        return self.frozen(x)

    def extract_logits(self, x):
        return self.student(x)


def test_teacher_forward_share_closed_form():
    # teacher forward: 2·B·4·10; student forward the same, backward only the weight gradient
    # (the input needs none) the same again: share = 1 / 3
    m = _LinearKD()
    s = tau_cost.teacher_forward_share(m, torch.randn(8, 4), repeats=3)
    assert s['teacher_forward_flops'] == 2 * 8 * 4 * 10
    assert s['student_step_flops'] == 2 * 2 * 8 * 4 * 10
    assert s['flop_share'] == pytest.approx(1 / 3) and s['batch'] == 8
    # times are measured (no value can be asserted), and the share is their ratio
    assert s['teacher_forward_s'] > 0 and s['student_step_s'] > 0 and s['repeats'] == 3
    assert s['time_share'] == pytest.approx(
        s['teacher_forward_s'] / (s['teacher_forward_s'] + s['student_step_s']))
    assert m.student.weight.grad is None   # cleared


def test_grid_with_teacher_sharing_pays_the_teacher_forward_once():
    grid = [_run(f'g{i}', 'grid', 100, 0.1) for i in range(4)]
    st = [_run('u0', 'stochastic', 100, 0.1, 'u')]
    teacher = dict(seconds=200.0, energy_kwh=0.2, co2_g=100.0, train_flops=30.0)
    # the teacher: 60 % of the FLOPs but 10 % of the time (slow student FLOPs)
    share = dict(batch=8, teacher_forward_flops=60, student_step_flops=40, flop_share=0.6,
                 teacher_forward_s=0.01, student_step_s=0.09, repeats=5, time_share=0.1)
    c = tau_cost.arm_cost(grid + st, teacher, grid_size=4, samplers=['u'], teacher_share=share)
    sh = c['samplers']['u']['grid']['with_teacher_sharing']
    # 4 runs, the teacher forward paid once: FLOPs 4 − 3 · 0.6 = 2.2 runs, time and energy
    # 4 − 3 · 0.1 = 3.7 runs
    assert sh['student_only']['train_flops'] == pytest.approx(22.0)
    assert sh['student_only']['seconds'] == pytest.approx(370.0)
    assert sh['student_only_ratio']['energy_kwh'] == pytest.approx(3.7)
    assert sh['student_only_ratio']['co2_g'] == pytest.approx(3.7)
    assert sh['end_to_end_ratio']['seconds'] == pytest.approx((200 + 370) / (200 + 100))
    paper = c['samplers']['u']['paper_grid']['with_teacher_sharing']
    assert paper['student_only_ratio']['train_flops'] == pytest.approx(20 - 19 * 0.6)
    # without the share the rows are absent, and the text says sharing is computed
    assert 'with_teacher_sharing' not in tau_cost.arm_cost(
        grid + st, teacher, 4, ['u'])['samplers']['u']['grid']
    text = '\n'.join(tau_cost.cost_markdown(c))
    assert 'with teacher-logit sharing (computed)' in text
    assert '60.0 %' in text and '10.0 % of its time' in text
