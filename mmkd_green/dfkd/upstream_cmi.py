"""Run upstream zju-vipa/CMI (a user's own checkout) with our shared τ sampler and energy meter.

Upstream (commit 9e79fa9) has no licence, so nothing of it is vendored: the user clones it (see
``third_party/README.md``) and points ``MMKD_CMI_ROOT`` (or ``root=``) at the checkout. The
adapter then, *before* upstream's ``datafree_kd.py`` runs:

1. provides ``torchvision.models.utils.load_state_dict_from_url`` (moved to ``torch.hub`` in
   recent torchvision; upstream's MobileNetV2 imports it);
2. replaces ``datafree.criterions.KLDiv`` by :func:`sampled_kldiv_class`'s class: the training
   criterion (built once in ``main_worker`` as ``KLDiv(T=args.T)``) draws its temperature from
   our sampler on every call, ``τ_i = sampler(i)`` for call ``i = 0, 1, ...``, and computes
   upstream's loss ``τ² · KL(softmax(t/τ) ‖ softmax(s/τ))`` (batch mean). Upstream also builds
   ``KLDiv(reduction='sum')`` as a logged metric in ``train()``; instances with a reduction other
   than ``'batchmean'`` keep their fixed ``T`` and do not advance the τ counter;
3. wraps ``datafree.evaluators.classification_evaluator`` so that the evaluator upstream calls
   once after each epoch's training closes that epoch's meter segment (``EnergyMeter``), logs
   the accuracy, and opens the next one. Records go to ``<work_dir>/carbon/carbon.jsonl`` in the
   format of ``CarbonFootprintHook`` (``load_run_totals`` reads them), plus ``summary.json``.

Importing this module never imports upstream; only :meth:`UpstreamCMIAdapter.install` does.
"""
import os
import os.path as osp
import runpy
import sys
import types
import uuid
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

ENV_VAR = 'MMKD_CMI_ROOT'
UPSTREAM_REPO = 'https://github.com/zju-vipa/CMI'
UPSTREAM_COMMIT = '9e79fa9'
UPSTREAM_DEPS = ('kornia', 'einops', 'scikit-learn', 'termcolor', 'tqdm')


def find_checkout(root: Optional[str] = None) -> str:
    """The upstream checkout: ``root``, else ``$MMKD_CMI_ROOT``; raises with the fix if absent."""
    root = root or os.environ.get(ENV_VAR)
    how = (f'git clone {UPSTREAM_REPO} && git -C CMI checkout {UPSTREAM_COMMIT}, then '
           f'export {ENV_VAR}=$PWD/CMI (see third_party/README.md)')
    if not root:
        raise FileNotFoundError(f'no upstream CMI checkout given: set {ENV_VAR} or pass root. '
                                f'To get one: {how}')
    if not (osp.isfile(osp.join(root, 'datafree_kd.py')) and
            osp.isdir(osp.join(root, 'datafree'))):
        raise FileNotFoundError(f'{root!r} is not a zju-vipa/CMI checkout (datafree_kd.py and '
                                f'datafree/ expected). {how}')
    return osp.abspath(root)


def add_torchvision_alias() -> None:
    """``torchvision.models.utils.load_state_dict_from_url`` → ``torch.hub``'s (idempotent)."""
    import torchvision.models as tvm
    try:
        from torchvision.models.utils import load_state_dict_from_url  # noqa: F401
        return
    except ImportError:
        pass
    mod = types.ModuleType('torchvision.models.utils')
    mod.load_state_dict_from_url = torch.hub.load_state_dict_from_url
    sys.modules['torchvision.models.utils'] = mod
    tvm.utils = mod


def sampled_kldiv_class(sampler, tau_log: Optional[list] = None, start_iter: int = 0):
    """A drop-in for upstream's ``KLDiv(T=1.0, reduction='batchmean')`` whose training instances
    draw ``τ = sampler(i, batch_size)`` on their ``i``-th call (a per-sample sampler gives one τ
    per row). ``tau_log`` (a list) receives every τ used."""

    class SampledKLDiv(nn.Module):
        shared_sampler = sampler

        def __init__(self, T=1.0, reduction='batchmean'):
            super().__init__()
            self.T, self.reduction = T, reduction
            self.iteration = start_iter
            self.last_tau = None

        @property
        def sampled(self) -> bool:
            return self.reduction == 'batchmean'

        def forward(self, logits, targets):
            if self.sampled:
                tau = self.shared_sampler(self.iteration, logits.shape[0])
                self.iteration += 1
            else:
                tau = self.T
            self.last_tau = tau
            if tau_log is not None and self.sampled:
                tau_log.append(tau)
            t = torch.as_tensor(tau, dtype=logits.dtype, device=logits.device)
            t = t.view(-1, 1) if t.ndim else t
            log_q = F.log_softmax(logits / t, dim=1)
            p = F.softmax(targets / t, dim=1)
            rows = F.kl_div(log_q, p, reduction='none').sum(1) * (t.reshape(-1) ** 2)
            if self.reduction == 'batchmean':
                return rows.sum() / logits.shape[0]
            if self.reduction == 'sum':
                return rows.sum()
            if self.reduction == 'mean':       # torch's elementwise mean
                return rows.sum() / logits.numel()
            return rows

    return SampledKLDiv


class UpstreamCMIAdapter:
    """Args:
        root: upstream checkout (default ``$MMKD_CMI_ROOT``).
        temperature (dict): the shared sampler's config (``TEMPERATURE_SAMPLERS``).
        seed (int): the sampler's seed.
        work_dir (str): where ``carbon/`` records go.
        meter (dict): ``EnergyMeter`` arguments (offline defaults).
    """

    def __init__(self, root: Optional[str] = None,
                 temperature: dict = dict(type='UniformTemperature', low=2.0, high=20.0),
                 seed: int = 0, work_dir: str = 'work_dirs/upstream_cmi',
                 meter: Optional[dict] = None):
        from mmkd_green.registry import TEMPERATURE_SAMPLERS
        self.root = find_checkout(root)
        cfg = dict(temperature)
        cfg.setdefault('seed', seed)
        self.sampler = TEMPERATURE_SAMPLERS.build(cfg)
        self.work_dir = osp.abspath(work_dir)
        self.meter_args = dict(meter or {})
        self.taus = []
        self.meter = None
        self.epoch = 0
        self.session = uuid.uuid4().hex[:12]
        self.datafree = None

    # -- records ---------------------------------------------------------------------------
    @property
    def jsonl(self) -> str:
        return osp.join(self.work_dir, 'carbon', 'carbon.jsonl')

    def _append(self, record: dict) -> None:
        from mmkd_green.energy.records import append_record
        append_record(self.jsonl, record)

    def _tau_summary(self):
        from mmkd_green.energy.tau_stats import TauStats
        stats = TauStats()
        for tau in self.taus:
            stats.add(tau)
        self.taus.clear()
        return stats.summary()

    def start_meter(self) -> None:
        from mmkd_green.energy import EnergyMeter
        self.meter = EnergyMeter(**self.meter_args).start()
        self._append(dict(type='start', session=self.session, meter=self.meter.describe(),
                          run_info=dict(upstream=f'{UPSTREAM_REPO}@{UPSTREAM_COMMIT}',
                                        work_dir=self.work_dir,
                                        sampler=dict(type=type(self.sampler).__name__,
                                                     **vars(self.sampler)))))
        self.meter.epoch_start()

    def end_epoch(self) -> None:
        self.epoch += 1
        record = self.meter.epoch_end(session=self.session, epoch=self.epoch,
                                      tau=self._tau_summary())
        self._append(record)

    def log_metrics(self, metrics: dict) -> None:
        self._append(dict(type='val', session=self.session, epoch=self.epoch, metrics=metrics))

    def stop_meter(self) -> Optional[dict]:
        if self.meter is None:
            return None
        record = self.meter.stop(session=self.session, epoch=None, tau=self._tau_summary())
        if record is not None:
            self._append(record)
        from mmkd_green.energy.records import read_records, write_json_atomic
        from mmkd_green.energy.report import aggregate
        totals = aggregate(read_records(self.jsonl)[0])
        write_json_atomic(osp.join(self.work_dir, 'carbon', 'summary.json'),
                          dict(totals=totals, meter=self.meter.describe(), session=self.session))
        self.meter = None
        return totals

    # -- patching --------------------------------------------------------------------------
    def install(self):
        """Alias, import upstream's ``datafree``, patch its criterion and evaluator factory."""
        add_torchvision_alias()
        if self.root not in sys.path:
            sys.path.insert(0, self.root)
        import datafree
        import datafree.criterions
        import datafree.evaluators
        datafree.criterions.KLDiv = sampled_kldiv_class(self.sampler, self.taus)
        original = getattr(datafree.evaluators.classification_evaluator, '__wrapped__',
                           datafree.evaluators.classification_evaluator)
        adapter = self

        def classification_evaluator(*args, **kwargs):
            evaluator = original(*args, **kwargs)

            def metered(*eargs, **ekwargs):
                if adapter.meter is not None:
                    adapter.end_epoch()
                results = evaluator(*eargs, **ekwargs)
                try:
                    acc = results.get('Acc')
                    adapter.log_metrics(dict(acc1=float(acc[0]), acc5=float(acc[1]),
                                             loss=float(results.get('Loss', float('nan')))))
                except Exception:   # noqa: BLE001  (metrics are a bonus; never break the run)
                    pass
                if adapter.meter is not None:
                    adapter.meter.epoch_start()
                return results
            return metered

        classification_evaluator.__wrapped__ = original
        datafree.evaluators.classification_evaluator = classification_evaluator
        self.datafree = datafree
        return datafree

    def run(self, argv: Sequence[str]) -> Optional[dict]:
        """Run upstream's ``datafree_kd.py`` with ``argv`` (its own flags) in its checkout
        directory (it reads ``data/`` and ``checkpoints/pretrained/`` there, writes ``run/`` and
        ``checkpoints/``), metered; returns the run totals."""
        self.install()
        script = osp.join(self.root, 'datafree_kd.py')
        old_argv, old_cwd = sys.argv, os.getcwd()
        sys.argv = [script, *argv]
        os.chdir(self.root)
        self.start_meter()
        try:
            runpy.run_path(script, run_name='__main__')
        finally:
            sys.argv = old_argv
            os.chdir(old_cwd)
            totals = self.stop_meter()
        return totals
