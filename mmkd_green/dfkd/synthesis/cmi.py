"""Contrastive Model Inversion (Fang et al., IJCAI 2021): a generator with contrastive diversity.

Each round re-initialises a :class:`~.generator.DCGANGenerator` ``G`` and draws latents
``z ~ N(0, I)``; ``G`` and ``z`` are optimised jointly (Adam, β = 0.5, 0.999) on::

    L = bn · Σ_l R_bn,l(x_g) + oh · CE(t(x_g), y) + adv · L_adv + cr · L_cr,    x = G(z)

with a global view ``x_g`` (random crop, padding 4, + flip) and a local view ``x_l`` (random
resized crop, area ∈ [0.25, 1], + flip) of ``x``, both normalised. The adversarial term is
computed where student and teacher agree (mask ``m_i = [argmax s_i = argmax t_i]``)::

    L_adv = −mean_i m_i · KL(softmax(t(x_g)_i) ‖ softmax(s(x_g)_i))

and ``L_cr`` is the local/global instance-discrimination loss of :mod:`.contrastive` over the
teacher's instance features, with ``n_neg`` negatives drawn from a memory bank of the features of
earlier rounds. The projection head and its Adam optimizer persist across rounds. The round keeps
the lowest-loss batch (images → image bank, features → memory bank).

Defaults are the CMI repo's CIFAR-10 WRN-40-2 → WRN-16-1 settings: 200 steps, lr 1e-3, batch 256,
adv 0.5, bn 1, oh 1, cr 0.8, cr_T 0.2 (scripts/cmi/cmi_cifar10.sh), nz 256, head dim 256, bank
40960 rows, 4096 negatives (datafree_kd.py).
"""
from typing import Optional

import torch
import torch.nn.functional as F

from mmkd_green.registry import MODELS
from .augment import random_crop_flip, random_resized_crop_flip
from .base import BaseSynthesizer
from .bn_hooks import BNHooks
from .contrastive import ProjectionHead, contrastive_loss
from .memory_bank import FeatureBank
from .precision import steps_taken
from .priors import kl_rows


@MODELS.register_module()
class CMISynthesizer(BaseSynthesizer):
    """Args (besides :class:`BaseSynthesizer`'s):
        generator (dict): generator config (MODELS), ``nz`` must match ``generator.nz``.
        cr, cr_T: weight and temperature of the contrastive loss.
        head_dim: projection width. feature_bank_size: memory bank rows. n_neg: negatives per step.
        local_scale: area range of the local view. reset_generator: re-draw ``G`` every round.
    """

    needs_instance_means = True

    def __init__(self, num_classes, generator: Optional[dict] = None, iterations=200, lr=1e-3,
                 bn=1.0, oh=1.0, adv=0.5, cr=0.8, cr_T=0.2, head_dim=256,
                 feature_bank_size=40960, n_neg=4096, local_scale=(0.25, 1.0),
                 reset_generator=True, **kwargs):
        super().__init__(num_classes, iterations=iterations, lr=lr, bn=bn, oh=oh, adv=adv,
                         **kwargs)
        if cr < 0 or cr_T <= 0:
            raise ValueError(f'CMISynthesizer: cr >= 0 and cr_T > 0 required, got {cr}, {cr_T}')
        generator = dict(type='DCGANGenerator', nz=256, ngf=64, img_size=self.img_size[-1],
                         nc=self.img_size[0]) if generator is None else generator
        self.generator = MODELS.build(generator) if isinstance(generator, dict) else generator
        self.nz = int(getattr(self.generator, 'nz', generator.get('nz', 256)
                              if isinstance(generator, dict) else 256))
        self.cr, self.cr_T, self.head_dim = float(cr), float(cr_T), int(head_dim)
        self.feature_bank_size, self.n_neg = int(feature_bank_size), int(n_neg)
        self.local_scale, self.reset_generator = tuple(local_scale), bool(reset_generator)
        self.head = None
        self.head_optimizer = None
        self.feature_bank = None
        self._pending_state = None
        self._last_features = None

    def on_bind(self, teacher) -> None:
        if self.head is not None:
            return
        dim = BNHooks(teacher).feature_dim(teacher, self.img_size)
        self.head = ProjectionHead(dim, self.head_dim).to(next(teacher.parameters()).device)
        self.head_optimizer = torch.optim.Adam(self.head.parameters(), lr=self.lr)
        self.feature_bank = FeatureBank(self.feature_bank_size, 2 * dim,   # [local | global]
                                        device=next(teacher.parameters()).device)
        self.generator.to(next(teacher.parameters()).device)
        if self._pending_state is not None:
            self.load_extra_state(self._pending_state)

    def own_networks(self) -> list:
        """The generator (its convolutions follow the synthesis layout; the head is linear)."""
        return [self.generator]

    def flops_key(self) -> tuple:
        """+ the cached rows the head processes this round, ``min(len(bank), n_neg)``."""
        cached = min(len(self.feature_bank), self.n_neg) if self.cr > 0 and \
            self.feature_bank is not None else 0
        return super().flops_key() + (cached,)

    def invert(self, targets, hooks, progress=None):
        if self.head is None:
            raise RuntimeError('CMISynthesizer is not bound: call `.bind(teacher, student)`')
        n = targets.shape[0]
        if self.reset_generator:
            self.generator.reset_parameters()
        self.generator.train()
        z = torch.randn(n, self.nz, device=self.device, requires_grad=True)
        opt = torch.optim.Adam([{'params': self.generator.parameters()}, {'params': [z]}],
                               lr=self.lr, betas=(0.5, 0.999))
        self.feature_bank.to(self.device)           # the bank lives on the training device
        best_loss, best, terms = None, None, {}
        for step in range(self.iterations):
            with self.step_scope(step):
                x = self.run_net(self.generator, z)
                x_global = self.net_input(self.normalize(random_crop_flip(x, padding=4)))
                x_local = self.net_input(self.normalize(
                    random_resized_crop_flip(x, scale=self.local_scale)))
                # both views in one teacher pass (eval-mode BN treats every image alone, so this
                # is the two separate passes' arithmetic in one batch); R_bn over the global view
                hooks.loss_rows = n
                try:
                    t_out = self.run_net(self.teacher, torch.cat([x_global, x_local]))[:n]
                finally:
                    hooks.loss_rows = None
                loss_bn = hooks.bn_loss()
                f_global, f_local = hooks.instance_features().split(n)
                loss_oh = F.cross_entropy(t_out, targets)
                loss = self.bn * loss_bn + self.oh * loss_oh
                terms = dict(bn=loss_bn, oh=loss_oh)
                if self.adv > 0:
                    s_out = self.run_net(self.student, x_global)
                    agree = (s_out.argmax(1) == t_out.argmax(1)).float()
                    terms['adv'] = -(kl_rows(s_out, t_out) * agree).mean()
                    loss = loss + self.adv * terms['adv']
                if self.cr > 0:
                    cached = self.feature_bank.sample(self.n_neg).float()
                    c_local, c_global = cached.chunk(2, dim=1)
                    proj = self.head(torch.cat([f_local, c_local, f_global, c_global], 0))
                    p_local, p_global = proj.chunk(2, dim=0)
                    terms['cr'] = contrastive_loss(p_local, p_global, n, self.cr_T)
                    loss = loss + self.cr * terms['cr']
                # keep the lowest-loss batch on the device: no host sync per step
                value = loss.detach()
                feats = torch.cat([f_local, f_global], 1).detach()
                if best is None:
                    best_loss, best = value, (x.detach().clone(), feats.clone())
                else:
                    better = value < best_loss
                    best = (torch.where(better, x.detach(), best[0]),
                            torch.where(better, feats, best[1]))
                    best_loss = torch.where(better, value, best_loss)
                opt.zero_grad(set_to_none=True)
                self.head_optimizer.zero_grad(set_to_none=True)
                self.precision.backward(loss)
                self.precision.step(opt, self.head_optimizer)
                terms = {k: v.detach() for k, v in terms.items()}
                terms['total'] = value
                if progress is not None:
                    progress(step, terms)
        self.feature_bank.add(best[1])
        self._last_features = best[1]
        terms['best'] = best_loss
        losses = self.round_losses(terms)
        if self.precision.scaler is not None:
            losses['skipped_steps'] = float(self.iterations - steps_taken(opt))
        return best[0], losses

    def round_record(self) -> dict:
        return {} if self._last_features is None else \
            dict(features=self._last_features.to(torch.float16))

    def extra_state(self, with_banks: bool = True) -> dict:
        if self.head is None:
            return {}
        state = dict(head_optimizer=self.head_optimizer.state_dict())
        if with_banks:
            state['feature_bank'] = self.feature_bank.state_dict()
        return state

    def load_extra_state(self, state: dict) -> None:
        if 'feature_bank' not in state and 'round_records' not in state:
            return
        if self.head is None:          # restored before binding: apply once the head exists
            self._pending_state = state
            return
        if 'round_records' in state:   # replay the rounds' features (float16 on disk)
            self.feature_bank = FeatureBank(self.feature_bank_size, self.feature_bank.dim,
                                            device=self.feature_bank.device)
            for rec in state['round_records']:
                if 'features' in rec:
                    self.feature_bank.add(rec['features'].float())
        else:
            self.feature_bank.load_state_dict(state['feature_bank'])
        self.head_optimizer.load_state_dict(state['head_optimizer'])
        self._pending_state = None
