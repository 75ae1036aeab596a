"""Image priors and divergences used while inverting a teacher.

* Total variation (anisotropic L1, four neighbour directions, as in DeepInversion's CIFAR code)::

      TV(x) = mean|x[..., :, :-1] − x[..., :, 1:]| + mean|x[..., :-1, :] − x[..., 1:, :]|
            + mean|x[..., 1:, :-1] − x[..., :-1, 1:]| + mean|x[..., :-1, :-1] − x[..., 1:, 1:]|

* L2 prior: ``‖x‖₂`` over the whole batch.
* Jensen-Shannon divergence between softened predictions (DeepInversion's adaptive term)::

      JS(p, q) = ½ KL(p ‖ m) + ½ KL(q ‖ m),   m = (p + q) / 2,   p = softmax(s/T), q = softmax(t/T)

  with probabilities clamped to [0.01, 0.99] inside the logarithms (batch-mean reduction).
* Per-row KL(softmax(t/T) ‖ softmax(s/T)) · T² (CMI's adversarial term).
* Random jitter (circular shift by up to ``lim`` of the size) and horizontal flip, one draw per
  batch (DeepInversion).
"""
import torch
import torch.nn.functional as F


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """TV(x) above, for ``x`` of shape ``(N, C, H, W)``."""
    return ((x[..., :, :-1] - x[..., :, 1:]).abs().mean() +
            (x[..., :-1, :] - x[..., 1:, :]).abs().mean() +
            (x[..., 1:, :-1] - x[..., :-1, 1:]).abs().mean() +
            (x[..., :-1, :-1] - x[..., 1:, 1:]).abs().mean())


def js_divergence(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
                  T: float = 3.0) -> torch.Tensor:
    """JS(softmax(s/T), softmax(t/T)), batch mean."""
    p = F.softmax(student_logits / T, dim=1)
    q = F.softmax(teacher_logits / T, dim=1)
    m = (0.5 * (p + q)).clamp(0.01, 0.99)
    n = p.shape[0]
    kl_pm = F.kl_div(p.clamp(0.01, 0.99).log(), m, reduction='sum') / n
    kl_qm = F.kl_div(q.clamp(0.01, 0.99).log(), m, reduction='sum') / n
    return 0.5 * kl_pm + 0.5 * kl_qm


def kl_rows(student_logits: torch.Tensor, teacher_logits: torch.Tensor,
            T: float = 1.0) -> torch.Tensor:
    """Per-row T² · KL(softmax(t/T) ‖ softmax(s/T)), shape ``(N,)``."""
    log_ps = F.log_softmax(student_logits / T, dim=1)
    log_pt = F.log_softmax(teacher_logits / T, dim=1)
    return F.kl_div(log_ps, log_pt, reduction='none', log_target=True).sum(1) * T * T


def jitter_flip(x: torch.Tensor, lim: float = 1. / 8., flip: bool = True,
                generator: torch.Generator = None) -> torch.Tensor:
    """Roll ``x`` by a random offset in ``[-lim·H, lim·H] × [-lim·W, lim·W]`` and flip it
    horizontally with probability ½ (one draw for the whole batch)."""
    lh, lw = int(x.shape[-2] * lim), int(x.shape[-1] * lim)
    dy = int(torch.randint(-lh, lh + 1, (1,), generator=generator))
    dx = int(torch.randint(-lw, lw + 1, (1,), generator=generator))
    x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
    if flip and bool(torch.rand(1, generator=generator) < 0.5):
        x = torch.flip(x, dims=(3,))
    return x
