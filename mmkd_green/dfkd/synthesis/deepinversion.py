"""DeepInversion (Yin et al., CVPR 2020): optimise the pixels of a batch directly.

Pixels ``x`` (in the teacher's normalised space, initialised ~ N(0, 1)) minimise::

    L(x) = bn · Σ_l R_bn,l(x̃) + oh · CE(t(x̃), y) + adv · (−JS(s(x̃), t(x̃); T=3))
           + tv · TV(x) + l2 · ‖x‖₂

where ``x̃`` is ``x`` randomly jittered (circular shift up to 1/8 of the side) and flipped, R_bn the
BN-statistics loss, TV the total variation, and the adaptive term (``adv > 0``, "ADI") pushes the
images to where student and teacher disagree. Adam (β = 0.5, 0.99); after every step ``x`` is
clamped to valid pixels. The round returns, in ``[0, 1]``, the batch chosen by ``keep``:

* ``'last'`` (default, upstream's behaviour): ``x`` after the final step and clamp. Upstream's
  ``DeepInvSyntheiszer`` records ``best_inputs = inputs.data`` at the lowest loss, but that
  tensor shares storage with the optimised one (the later in-place Adam steps and
  ``clip_images`` write into it), so what it keeps is in effect the last batch;
* ``'best'``: the batch of lowest ``L`` seen during the round (``x`` as it was when ``L`` was
  evaluated), what upstream's code reads as if it did.

Defaults follow the CMI repo's WRN-40-2 → WRN-16-1 DeepInversion script: 1000 steps, lr 0.1,
bn 10, oh 1, adv 1, tv 1e-3, l2 0.
"""
import torch
import torch.nn.functional as F

from mmkd_green.registry import MODELS
from .base import BaseSynthesizer
from .precision import steps_taken
from .priors import jitter_flip, js_divergence, total_variation


@MODELS.register_module()
class DeepInversionSynthesizer(BaseSynthesizer):
    """Args (besides :class:`BaseSynthesizer`'s):
        tv: weight of the total-variation prior. l2: weight of the L2 prior.
        jitter: max shift as a fraction of the side (0: none). flip: random flips.
        adv_T: temperature of the JS divergence of the adaptive term.
        keep: ``'last'`` (upstream's effective behaviour) or ``'best'`` (lowest-loss batch).
    """

    def __init__(self, num_classes, iterations=1000, lr=0.1, bn=10.0, oh=1.0, adv=1.0,
                 tv=1e-3, l2=0.0, jitter=1. / 8., flip=True, adv_T=3.0, keep='last', **kwargs):
        super().__init__(num_classes, iterations=iterations, lr=lr, bn=bn, oh=oh, adv=adv,
                         **kwargs)
        if tv < 0 or l2 < 0 or not 0 <= jitter < 1:
            raise ValueError(f'DeepInversionSynthesizer: tv, l2 >= 0 and jitter in [0, 1) '
                             f'required, got tv={tv}, l2={l2}, jitter={jitter}')
        if keep not in ('last', 'best'):
            raise ValueError(f'DeepInversionSynthesizer: keep must be "last" (upstream) or "best", '
                             f'got {keep!r}')
        self.tv, self.l2, self.jitter, self.flip, self.adv_T = float(tv), float(l2), jitter, flip, adv_T
        self.keep = keep

    def invert(self, targets, hooks, progress=None):
        n = targets.shape[0]
        x = torch.randn(n, *self.img_size, device=self.device, requires_grad=True)
        opt = torch.optim.Adam([x], lr=self.lr, betas=(0.5, 0.99))
        # the lowest loss so far and its batch stay on the device (no host sync per step)
        best_loss = torch.full((), float('inf'), device=self.device)
        best_x, terms = x.detach().clone(), {}
        for step in range(self.iterations):
            with self.step_scope(step):
                x_aug = self.net_input(jitter_flip(x, self.jitter, self.flip)
                                       if self.jitter > 0 or self.flip else x)
                t_out = self.run_net(self.teacher, x_aug)
                loss_bn = hooks.bn_loss()
                loss_oh = F.cross_entropy(t_out, targets)
                loss = self.bn * loss_bn + self.oh * loss_oh
                terms = dict(bn=loss_bn, oh=loss_oh)
                if self.adv > 0:
                    loss_adv = -js_divergence(self.run_net(self.student, x_aug), t_out,
                                              T=self.adv_T)
                    loss = loss + self.adv * loss_adv
                    terms['adv'] = loss_adv
                if self.tv > 0:
                    terms['tv'] = total_variation(x)
                    loss = loss + self.tv * terms['tv']
                if self.l2 > 0:
                    terms['l2'] = torch.linalg.vector_norm(x)
                    loss = loss + self.l2 * terms['l2']
                value = loss.detach()
                if self.keep == 'best':
                    better = value < best_loss
                    best_x = torch.where(better, x.detach(), best_x)
                    best_loss = torch.where(better, value, best_loss)
                opt.zero_grad(set_to_none=True)
                self.precision.backward(loss)
                self.precision.step(opt)
                with torch.no_grad():
                    x.copy_(self.normalize.clamp_normalized(x))
                terms = {k: v.detach() for k, v in terms.items()}
                terms['total'] = value
                if progress is not None:
                    progress(step, terms)
        if self.keep == 'best':
            terms['best'] = best_loss
        losses = self.round_losses(terms)
        if self.precision.scaler is not None:
            losses['skipped_steps'] = float(self.iterations - steps_taken(opt))
        return self.normalize.inverse(best_x if self.keep == 'best' else x.detach()), losses
