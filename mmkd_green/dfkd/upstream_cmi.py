"""Run upstream zju-vipa/CMI (a user's own checkout) with our shared τ sampler and energy meter.

Upstream (commit 9e79fa9) has no licence, so nothing of it is vendored: the user clones it (see
``third_party/README.md``) and points ``MMKD_CMI_ROOT`` (or ``root=``) at the checkout. The
adapter then, *before* upstream's ``datafree_kd.py`` runs:

1. provides ``torchvision.models.utils.load_state_dict_from_url`` (moved to ``torch.hub`` in
   recent torchvision; upstream's MobileNetV2 imports it);
2. gives τ to the KD criterion only: upstream's ``train(synthesizer, models, criterion, ...)``
   (the KD loop of ``datafree_kd.py``) is wrapped so that it receives, instead of the
   ``criterion`` that ``main_worker`` built, one persistent :func:`sampled_kldiv_class` instance
   that draws ``τ_i = sampler(i)`` on its ``i``-th call and computes upstream's loss
   ``τ² · KL(softmax(t/τ) ‖ softmax(s/τ))`` (batch mean). ``datafree.criterions.KLDiv`` itself
   is left alone, so every other user keeps its fixed ``T``: the generator's adversarial term of
   ``zskt``/``dfq``/``dafl`` (``GenerativeSynthesizer`` holds the *same* ``KLDiv()`` object that
   ``main_worker`` passes to ``train``, and keeps calling the original) and ``train()``'s logged
   ``KLDiv(reduction='sum')`` metric. Methods: ``cmi``, ``deepinv`` (KD criterion
   ``KLDiv(T=--T)``), ``zskt``, ``dfq``, ``dafl`` (``KLDiv()``, T = 1); ``dfad`` distils with
   ``L1Loss`` on logits, which has no temperature: refused before anything starts. On upstream's
   ``--resume`` the τ counter continues at ``start_epoch × (ep_steps // kd_steps) × kd_steps``
   (the KD calls the resumed epochs made), as does the meter's epoch number;
3. wraps ``datafree.evaluators.classification_evaluator`` so that the evaluator upstream calls
   once after each epoch's training closes that epoch's meter segment (``EnergyMeter``), logs
   the accuracy, and opens the next one. Records go to ``<work_dir>/carbon/carbon.jsonl`` in the
   format of ``CarbonFootprintHook`` (``load_run_totals`` reads them), plus ``summary.json``.

4. with ``data_root=`` (wrapper ``--data-root``): substitutes, inside upstream's ``registry``
   module namespace only (``registry.datasets``), torchvision's ``CIFAR10``/``CIFAR100`` by
   :class:`PickleCIFAR` (via :func:`pickle_cifar_class`). It keeps torchvision's constructor
   signature, so upstream's own ``registry.get_dataset`` (and its transforms) is used unchanged,
   but reads the official python pickles with our loader (``CIFAR10Pickle``/``CIFAR100Pickle``):
   whichever ``data_batch_*`` files exist, no md5 check, ``str`` or ``bytes`` keys, no download.
   The root upstream passes (``<--data_root>/torchdata``) is ignored; ``data_root`` is used.
   ``val_subset=N`` (``--val-subset``) keeps the first N test images, for CPU smoke runs.

:meth:`UpstreamCMIAdapter.run` then runs upstream's ``main()`` with the **work dir as cwd**
(upstream writes ``checkpoints/`` and ``run/`` relative to its cwd; the user's checkout stays
untouched, and upstream's modules are imported with ``sys.dont_write_bytecode`` so not even
``__pycache__`` lands there). Before that it prepares the work dir:

- ``teacher_ckpt=`` (``--teacher-ckpt``): a teacher checkpoint in upstream's layout or, for the
  WRN teachers, in ours (``block1.0.*``, plain / mmengine ``backbone.*`` / ``module.*``; renamed
  with :mod:`mmkd_green.classification.backbones.wrn_layout`). Its keys and shapes are checked
  against upstream's ``registry.get_model(<teacher>, num_classes)`` (an error lists the
  differences and the fix) before the meter starts; a file already in upstream's exact form is
  linked (or copied where links fail), any other is written converted, to
  ``checkpoints/pretrained/<dataset>_<teacher>.pth``, where upstream's ``main_worker`` loads it;
  without it, the checkout's ``checkpoints/pretrained`` is linked in. A missing teacher is
  reported before anything runs.
- upstream's ``--data_root`` (default ``data``), when relative and present in the checkout, is
  linked into the work dir, so the checkout's data stay usable without ``data_root=``.

Runtime patches for this environment (upstream's files are never edited):

- no CUDA device: upstream's ``--gpu`` defaults to 0, so its synthesizers would create CUDA
  tensors and ``train()`` would call ``.cuda(0)``; the adapter sets the parser's default to
  ``None`` (upstream's own CPU path: ``prepare_model`` keeps CPU models, ``device=None``) and
  rejects an explicit ``--gpu`` with the fix;
- ``--method cmi``: upstream's memory bank (40960 rows) asserts ``40960 % synthesis_batch_size
  == 0`` with a broken message (a ``TypeError`` instead of the assertion), so the adapter checks
  the batch size first and names valid ones;
- upstream's ``get_logger`` adds a stdout and a file handler to a process-global logger on every
  run; the adapter removes and closes the handlers a run added (repeated in-process runs would
  otherwise log twice and keep the previous work dir's log file open);
- upstream's image pool reads *every* image under ``--save_dir``, also those an earlier run left
  there; the adapter warns when that folder is not empty (use a fresh work dir per run);
- ``--multiprocessing_distributed``: upstream ``mp.spawn``s fresh worker processes, which the
  adapter's patches, τ sampler and meter do not reach: refused with the fix (one process).

Relative paths in upstream's flags (``--save_dir``, ``--resume``, ``--cmi_init``,
``--data_root``) therefore resolve against the work dir.

Importing this module never imports upstream; only :meth:`UpstreamCMIAdapter.install` does.
"""
import functools
import glob
import logging
import os
import os.path as osp
import runpy
import shutil
import sys
import types
import uuid
import warnings
from typing import Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

ENV_VAR = 'MMKD_CMI_ROOT'
UPSTREAM_REPO = 'https://github.com/zju-vipa/CMI'
UPSTREAM_COMMIT = '9e79fa9'
UPSTREAM_DEPS = ('kornia', 'einops', 'scikit-learn', 'termcolor', 'tqdm')
CMI_BANK_SIZE = 40960     # datafree_kd.py builds CMISynthesizer(bank_size=40960)
#: upstream's --method choices whose KD criterion is a KLDiv (τ applies); dfad uses L1Loss
TAU_METHODS = ('cmi', 'deepinv', 'zskt', 'dfq', 'dafl')
#: classes of upstream's datasets (registry.get_dataset), for the teacher shape check
NUM_CLASSES = dict(cifar10=10, cifar100=100, svhn=10, stl10=10, tiny_imagenet=200,
                   imagenet=1000, imagenet_32x32=1000, places365_32x32=365)


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


def import_upstream(root: Optional[str] = None):
    """Import a checkout's ``datafree`` package and ``registry`` module (``root`` or
    ``$MMKD_CMI_ROOT``) after :func:`add_torchvision_alias`, without writing ``__pycache__``
    into the checkout; returns ``(datafree, registry)``."""
    root = find_checkout(root)
    add_torchvision_alias()
    if root not in sys.path:
        sys.path.insert(0, root)
    dont_write = sys.dont_write_bytecode
    sys.dont_write_bytecode = True       # no __pycache__ in the user's checkout
    try:
        import datafree
        import datafree.criterions
        import datafree.evaluators
        import datafree.synthesis
        import registry
    finally:
        sys.dont_write_bytecode = dont_write
    if not osp.samefile(osp.dirname(osp.abspath(registry.__file__)), root):
        raise ImportError(f'`import registry` gave {registry.__file__}, not the checkout\'s '
                          f'registry.py under {root}: another top-level module named '
                          f'`registry` shadows it; remove it from sys.path.')
    return datafree, registry


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


class PickleCIFAR(torch.utils.data.Dataset):
    """A stand-in for ``torchvision.datasets.CIFAR10``/``CIFAR100`` that reads the official
    python pickles under ``data_root`` with our loader (``CIFAR10Pickle``/``CIFAR100Pickle``).

    Same constructor as torchvision's (``root, train=True, transform=None, target_transform=None,
    download=False``; :func:`pickle_cifar_class` binds the keyword-only rest) and the same items
    (``(PIL image, int label)``; ``data`` N x 32 x 32 x 3 uint8, ``targets``, ``classes``), so
    upstream's ``registry.get_dataset`` builds it with its own transforms. ``root`` and
    ``download`` are ignored: ``data_root`` (the folder itself or its ``cifar-10-batches-py`` /
    ``cifar-100-python`` sub-folder) is read, with whichever ``data_batch_*`` files exist and no
    md5 check. ``val_subset=N`` keeps the first N images of the test split (``train=False``).
    Module-level (not a local class) so that DataLoader workers can pickle it under ``spawn``.
    """

    def __init__(self, root=None, train=True, transform=None, target_transform=None,
                 download=False, *, name: str = 'CIFAR10', data_root: str = '',
                 val_subset: Optional[int] = None):
        from mmkd_green.classification.datasets import CIFAR10Pickle, CIFAR100Pickle
        reader = dict(CIFAR10=CIFAR10Pickle, CIFAR100=CIFAR100Pickle)[name]
        self.name, self.root, self.requested_root = name, osp.abspath(data_root), root
        self.train, self.transform, self.target_transform = train, transform, target_transform
        try:
            ds = reader(data_root=self.root, test_mode=not train)
        except (FileNotFoundError, KeyError, ValueError) as e:
            raise FileNotFoundError(
                f'upstream CMI asked for {name}(train={train}) and the adapter reads it from '
                f'data_root={self.root!r}, which failed: {e} Fix: pass --data-root / '
                f'data_root= a folder holding {reader.folder}/ ({reader.layout}), e.g. the '
                f'extracted "python version" archive.') from e
        keep = slice(None) if train or not val_subset else slice(0, int(val_subset))
        self.data = ds.images[keep].transpose(0, 2, 3, 1).copy()   # torchvision's N x H x W x C
        self.targets = [int(y) for y in ds.labels[keep]]
        self.classes = list(ds.metainfo['classes'])

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        from PIL import Image
        img, target = Image.fromarray(self.data[index]), self.targets[index]
        if self.transform is not None:
            img = self.transform(img)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return img, target

    def __repr__(self):
        return (f'{type(self).__name__}({self.name}, {"train" if self.train else "test"}, '
                f'{len(self)} images from {self.root})')


def pickle_cifar_class(name: str, data_root: str, val_subset: Optional[int] = None):
    """``torchvision.datasets.<name>`` (``'CIFAR10'`` or ``'CIFAR100'``) as upstream calls it,
    backed by :class:`PickleCIFAR` reading ``data_root`` (a picklable ``functools.partial``)."""
    if name not in ('CIFAR10', 'CIFAR100'):
        raise KeyError(f'{name!r}: only CIFAR10 and CIFAR100 are read from pickles')
    return functools.partial(PickleCIFAR, name=name, data_root=osp.abspath(data_root),
                             val_subset=val_subset)


class _DatasetsView(types.ModuleType):
    """``torchvision.datasets`` as upstream's ``registry`` sees it: our CIFAR classes, everything
    else delegated to the real module (which stays unchanged for every other user)."""

    def __init__(self, base, **overrides):
        super().__init__(base.__name__, base.__doc__)
        self.__dict__.update(overrides, _tv_base=base)

    def __getattr__(self, item):
        return getattr(self.__dict__['_tv_base'], item)


def _link(src: str, dst: str, copy: bool = False) -> None:
    """``dst`` → ``src`` as a symlink (replacing an old link/file); a copy where links fail and
    ``copy`` is set (a file), else a warning."""
    if osp.islink(dst) or osp.isfile(dst):
        os.remove(dst)
    os.makedirs(osp.dirname(dst), exist_ok=True)
    try:
        os.symlink(src, dst)
    except OSError as e:
        if not copy:
            warnings.warn(f'could not link {dst} -> {src} ({e}); upstream will not find it there')
            return
        shutil.copy2(src, dst)


class UpstreamCMIAdapter:
    """Args:
        root: upstream checkout (default ``$MMKD_CMI_ROOT``).
        temperature (dict): the shared sampler's config (``TEMPERATURE_SAMPLERS``).
        seed (int): the sampler's seed.
        work_dir (str): upstream's cwd during :meth:`run` (its ``checkpoints/``, ``run/``) and
            where ``carbon/`` records go; created if missing.
        meter (dict): ``EnergyMeter`` arguments (offline defaults).
        data_root (str, optional): a folder with CIFAR-10/100 python pickles (or their
            ``cifar-10-batches-py`` / ``cifar-100-python`` parent); upstream's
            ``registry.get_dataset`` then reads them (any subset of train batches, no md5 check)
            instead of downloading to ``<--data_root>/torchdata``.
        teacher_ckpt (str, optional): teacher checkpoint in upstream's layout (a dict with
            ``state_dict``) or, for WRN teachers, ours; checked and placed at
            ``<work_dir>/checkpoints/pretrained/<dataset>_<teacher>.pth``.
        val_subset (int, optional): with ``data_root``, upstream evaluates on the first N test
            images only (CPU smoke runs; the logged accuracy then covers N images, and N is
            recorded in the run info).

    After a run, ``tau_history`` holds every τ the training criterion used, in call order.
    """

    def __init__(self, root: Optional[str] = None,
                 temperature: dict = dict(type='UniformTemperature', low=2.0, high=20.0),
                 seed: int = 0, work_dir: str = 'work_dirs/upstream_cmi',
                 meter: Optional[dict] = None, data_root: Optional[str] = None,
                 teacher_ckpt: Optional[str] = None, val_subset: Optional[int] = None):
        from mmkd_green.temperature.hook import build_sampler
        self.root = find_checkout(root)
        if data_root is not None and not osp.isdir(data_root):
            raise FileNotFoundError(
                f'data_root {osp.abspath(data_root)!r} is not a folder. Fix: pass --data-root / '
                f'data_root= the folder holding cifar-10-batches-py/ (CIFAR-10) or '
                f'cifar-100-python/ (CIFAR-100) from the official "python version" archives.')
        if teacher_ckpt is not None and not osp.isfile(teacher_ckpt):
            raise FileNotFoundError(
                f'teacher_ckpt {osp.abspath(teacher_ckpt)!r} does not exist. Fix: pass '
                f'--teacher-ckpt / teacher_ckpt= a file saved as torch.save(dict(state_dict='
                f'model.state_dict()), path) from upstream\'s registry.get_model(<teacher>), or '
                f'a WRN checkpoint of ours.')
        if val_subset is not None and (data_root is None or int(val_subset) < 1):
            raise ValueError(f'val_subset={val_subset!r} needs data_root (it subsets our CIFAR '
                             f'reader) and must be >= 1. Fix: pass --data-root with --val-subset '
                             f'N, or drop --val-subset.')
        self.val_subset = int(val_subset) if val_subset is not None else None
        cfg = dict(temperature)
        cfg.setdefault('seed', seed)
        self.sampler = build_sampler(cfg)
        self.work_dir = osp.abspath(work_dir)
        self.data_root = osp.abspath(data_root) if data_root is not None else None
        self.teacher_ckpt = osp.abspath(teacher_ckpt) if teacher_ckpt is not None else None
        self.meter_args = dict(meter or {})
        self.taus = []
        self.tau_history = []
        self.meter = None
        self.epoch = 0
        self.session = uuid.uuid4().hex[:12]
        self.datafree = None
        self.registry = None
        self.criterion = None

    # -- records ---------------------------------------------------------------------------
    @property
    def jsonl(self) -> str:
        return osp.join(self.work_dir, 'carbon', 'carbon.jsonl')

    @property
    def records(self):
        from mmkd_green.energy.writer import CarbonRecords   # the hook's writer
        return CarbonRecords(self.work_dir, self.session)

    def _tau_summary(self):
        from mmkd_green.energy.tau_stats import TauStats
        stats = TauStats()
        for tau in self.taus:
            stats.add(tau)
        self.tau_history.extend(self.taus)
        self.taus.clear()
        return stats.summary()

    def start_meter(self) -> None:
        from mmkd_green.energy import EnergyMeter
        self.meter = EnergyMeter(**self.meter_args).start()
        self.records.start(self.meter, dict(upstream=f'{UPSTREAM_REPO}@{UPSTREAM_COMMIT}',
                                            work_dir=self.work_dir, data_root=self.data_root,
                                            val_subset=self.val_subset,
                                            sampler=dict(type=type(self.sampler).__name__,
                                                         **vars(self.sampler))))
        self.meter.epoch_start()

    def end_epoch(self) -> None:
        self.epoch += 1
        record = self.meter.epoch_end(session=self.session, epoch=self.epoch,
                                      tau=self._tau_summary())
        self.records.segment(record)

    def log_metrics(self, metrics: dict) -> None:
        self.records.val(self.epoch, metrics)

    def stop_meter(self, finished: bool = True) -> Optional[dict]:
        if self.meter is None:
            return None
        record = self.meter.stop(session=self.session, epoch=None, tau=self._tau_summary(),
                                 finished=finished)
        if record is not None:
            self.records.segment(record)
        totals = self.records.summary(self.meter)
        self.meter = None
        return totals

    # -- patching --------------------------------------------------------------------------
    def install(self):
        """Alias, import upstream's ``datafree`` and ``registry``, patch its evaluator factory
        and (with ``data_root``) the registry's CIFAR classes. The KD criterion is swapped inside
        ``train`` by :meth:`patch_train` (``run`` does it on the script it runs)."""
        datafree, registry = import_upstream(self.root)
        tv_datasets = getattr(registry.datasets, '_tv_base', registry.datasets)
        registry.datasets = tv_datasets if self.data_root is None else _DatasetsView(
            tv_datasets, CIFAR10=pickle_cifar_class('CIFAR10', self.data_root, self.val_subset),
            CIFAR100=pickle_cifar_class('CIFAR100', self.data_root, self.val_subset))
        self.registry = registry
        adapter = self
        self.criterion = None          # built at the first train() call (see patch_train)
        original = getattr(datafree.evaluators.classification_evaluator, '__wrapped__',
                           datafree.evaluators.classification_evaluator)

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

    def patch_train(self, upstream: dict) -> None:
        """Wrap ``train`` of a ``runpy``-loaded ``datafree_kd.py`` (``upstream``: its globals as
        ``run_path`` returns them; ``main_worker`` looks ``train`` up in the module's globals at
        call time) so that its KD ``criterion`` argument is replaced by this adapter's sampled
        ``KLDiv`` (one instance for the whole run, its counter continuing across epochs)."""
        module_globals = upstream['main'].__globals__
        original = getattr(module_globals['train'], '__wrapped__', module_globals['train'])
        adapter = self

        def train(synthesizer, model, criterion, optimizer, args):
            if not isinstance(criterion, adapter.datafree.criterions.KLDiv):
                raise TypeError(
                    f'upstream\'s KD criterion is {type(criterion).__name__}, not KLDiv: no '
                    f'temperature to sample (--method dfad distils with an L1 loss on logits). '
                    f'Fix: use one of --method {"|".join(TAU_METHODS)}.')
            if adapter.criterion is None:
                # on --resume upstream starts at args.start_epoch: continue τ and epochs there
                epoch = int(getattr(args, 'current_epoch', 0) or 0)
                start = epoch * (args.ep_steps // args.kd_steps) * args.kd_steps \
                    if hasattr(args, 'ep_steps') else 0
                adapter.criterion = sampled_kldiv_class(adapter.sampler, adapter.taus,
                                                        start_iter=start)(T=criterion.T)
                adapter.epoch = max(adapter.epoch, epoch)
                if adapter.meter is not None:   # upstream's models are on their device now:
                    adapter.meter.open_devices()  # the meter's GPUs resolve here
            return original(synthesizer, model, adapter.criterion, optimizer, args)

        train.__wrapped__ = original
        module_globals['train'] = train
        upstream['train'] = train

    def prepare(self, args) -> None:
        """Make ``work_dir`` upstream's cwd-to-be: its data and teacher checkpoint resolvable.

        ``args``: upstream's parsed flags (its own parser, so its own defaults)."""
        os.makedirs(self.work_dir, exist_ok=True)
        rel = osp.normpath(args.data_root) if not osp.isabs(args.data_root) else None
        if rel and not rel.startswith('..') and osp.exists(osp.join(self.root, rel)) and \
                not osp.lexists(osp.join(self.work_dir, rel)):
            _link(osp.join(self.root, rel), osp.join(self.work_dir, rel))
        pretrained = osp.join(self.work_dir, 'checkpoints', 'pretrained')
        name = f'{args.dataset}_{args.teacher}.pth'
        if self.teacher_ckpt is not None:
            if osp.islink(pretrained):           # an earlier run linked the checkout's folder
                os.remove(pretrained)
            converted = self._check_teacher(args)
            dst = osp.join(pretrained, name)
            if converted is None:
                _link(self.teacher_ckpt, dst, copy=True)
            else:       # another layout or wrapper: upstream gets a converted copy
                if osp.islink(dst) or osp.isfile(dst):
                    os.remove(dst)
                os.makedirs(pretrained, exist_ok=True)
                torch.save(dict(state_dict=converted), dst)
        elif osp.isdir(osp.join(self.root, 'checkpoints', 'pretrained')) and \
                not osp.lexists(pretrained):
            _link(osp.join(self.root, 'checkpoints', 'pretrained'), pretrained)
        if not osp.isfile(osp.join(pretrained, name)):
            raise FileNotFoundError(
                f'upstream loads its teacher from checkpoints/pretrained/{name} relative to its '
                f'cwd, the work dir {self.work_dir!r}, and it is not there (nor in the '
                f'checkout\'s checkpoints/pretrained). Fix: pass --teacher-ckpt / teacher_ckpt= '
                f'a checkpoint in upstream\'s layout, torch.save(dict(state_dict='
                f'registry.get_model({args.teacher!r}, num_classes).state_dict()), path) after '
                f'training, or put {name} under '
                f'{osp.join(self.root, "checkpoints", "pretrained")}.')
        if args.method == 'cmi':
            n = args.synthesis_batch_size or args.batch_size
            if CMI_BANK_SIZE % n:
                ok = [d for d in (16, 32, 64, 128, 256, 512, 1024) if CMI_BANK_SIZE % d == 0]
                raise ValueError(
                    f'upstream --method cmi: its memory bank ({CMI_BANK_SIZE} rows) needs the '
                    f'synthesis batch ({n}: --synthesis_batch_size, else --batch_size) to divide '
                    f'{CMI_BANK_SIZE} (its own assert would fail with a TypeError). Use e.g. '
                    f'{ok}.')
        save_dir = osp.join(self.work_dir, args.save_dir)
        if glob.glob(osp.join(save_dir, '**', '*.png'), recursive=True):
            warnings.warn(f'{save_dir} already holds images: upstream\'s image pool reads every '
                          f'image under --save_dir, so they join this run\'s synthetic set. Use '
                          f'a fresh --work-dir (or --save_dir) per run.')

    def _check_teacher(self, args) -> Optional[dict]:
        """Load ``teacher_ckpt`` as upstream would, accept upstream's layout or (WRN) ours, and
        check keys and shapes against ``registry.get_model(args.teacher, num_classes)``.

        Returns ``None`` when the file is already in upstream's exact form (``{'state_dict':
        upstream keys}``), else the converted state dict to write for upstream."""
        from mmkd_green.classification.backbones.wrn_layout import (
            OURS, check_state_dict, detect_layout, to_upstream, unwrap_checkpoint)
        path = self.teacher_ckpt
        try:   # upstream's own call (torch.load's weights_only default applies)
            ckpt = torch.load(path, map_location='cpu')
        except Exception as e:   # noqa: BLE001
            raise ValueError(f'teacher_ckpt {path!r}: torch.load(path, map_location="cpu"), as '
                             f'upstream calls it, failed: {e}') from e
        fix = (f'save the teacher as torch.save(dict(state_dict=model.state_dict()), path) with '
               f'model = upstream\'s registry.get_model({args.teacher!r}, num_classes) (upstream\'s '
               f'layout), or, for a WRN trained here, pass our checkpoint as is / convert it with '
               f'python tools/convert_wrn.py {path} OUT.pth --to upstream')
        try:
            state = unwrap_checkpoint(ckpt)
        except ValueError:
            state = {}
        if not state:
            raise ValueError(f'teacher_ckpt {path!r} is neither in upstream\'s layout (upstream '
                             f'reads torch.load(path)["state_dict"]) nor a state dict of ours. '
                             f'Fix: {fix}.')
        converted = False
        if args.teacher.startswith('wrn'):
            try:
                layout = detect_layout(state)
            except ValueError as e:
                raise ValueError(f'teacher_ckpt {path!r}: {e}. Fix: {fix}.') from e
            if layout == OURS:
                state, converted = to_upstream(state), True
        if self.registry is None:
            _, self.registry = import_upstream(self.root)
        num_classes = NUM_CLASSES.get(args.dataset)
        if num_classes is None and 'fc.weight' in state:
            num_classes = int(state['fc.weight'].shape[0])
        if num_classes is None:
            raise ValueError(f'upstream --dataset {args.dataset!r}: its class count is unknown to '
                             f'the adapter and the teacher has no fc.weight to read it from. Fix: '
                             f'use one of {sorted(NUM_CLASSES)}.')
        reference = self.registry.get_model(args.teacher, num_classes=num_classes).state_dict()
        check_state_dict(state, reference,
                         what=f'teacher_ckpt {path!r} (read as {args.teacher} with '
                              f'{num_classes} classes for --dataset {args.dataset})', fix=fix)
        exact = isinstance(ckpt, dict) and isinstance(ckpt.get('state_dict'), dict) and \
            list(ckpt['state_dict']) == list(state) and not converted
        return None if exact else state

    def run(self, argv: Sequence[str]) -> Optional[dict]:
        """Run upstream's ``datafree_kd.py`` ``main()`` with ``argv`` (its own flags), metered,
        with ``work_dir`` as cwd (see :meth:`prepare`); returns the run totals."""
        self.install()
        script = osp.join(self.root, 'datafree_kd.py')
        # defines upstream's parser/main/train without running main (`__name__` != '__main__')
        upstream = runpy.run_path(script, run_name='upstream_datafree_kd')
        self.patch_train(upstream)
        parser, argv = upstream['parser'], list(argv)
        cpu = not torch.cuda.is_available()
        if cpu:
            parser.set_defaults(gpu=None)   # upstream's CPU path (its default 0 means CUDA)
        args = parser.parse_args(argv)
        if cpu and args.gpu is not None:
            raise ValueError(f'upstream flag --gpu {args.gpu} given but torch sees no CUDA '
                             f'device. Fix: drop --gpu to run upstream on the CPU.')
        if args.multiprocessing_distributed:
            raise ValueError(
                'upstream flag --multiprocessing_distributed: upstream then mp.spawn()s fresh '
                'worker processes, which the adapter\'s τ sampler, criterion patch and energy '
                'meter do not reach. Fix: drop --multiprocessing_distributed (one process), or use '
                'our data-free pipeline under DDP (tools/dist_train.sh with a configs/dfkd config).')
        if args.method not in TAU_METHODS:
            raise ValueError(
                f'upstream --method {args.method}: its KD criterion is torch.nn.L1Loss on logits '
                f'(no temperature), so the shared τ cannot apply. Fix: use one of --method '
                f'{"|".join(TAU_METHODS)}.')
        self.prepare(args)
        old_argv, old_cwd = sys.argv, os.getcwd()
        handlers = {name: list(getattr(lg, 'handlers', ()))
                    for name, lg in logging.Logger.manager.loggerDict.items()}
        sys.argv = [script, *argv]
        os.chdir(self.work_dir)
        self.start_meter()
        finished = False
        try:
            upstream['main']()
            finished = True
        finally:
            sys.argv = old_argv
            os.chdir(old_cwd)
            self._drop_new_handlers(handlers)
            totals = self.stop_meter(finished=finished)
        return totals

    @staticmethod
    def _drop_new_handlers(before: dict) -> None:
        """Close the logging handlers upstream's ``get_logger`` added during a run."""
        for name, lg in list(logging.Logger.manager.loggerDict.items()):
            for h in list(getattr(lg, 'handlers', ())):
                if h not in before.get(name, ()):
                    lg.removeHandler(h)
                    h.close()
