"""Checks of a τ study that run before any training: bad input is refused with the fix.

* values: grid τ (≥ 1, distinct, finite, > 0), seeds (≥ 1, distinct integers in [0, 2³² − 1],
  numpy's seed range), stochastic samplers (≥ 1), ``--max-grid-kwh`` (finite, > 0);
* bf16: a run under bf16 autocast on a CPU without native bf16 (``CPUAutocastOptimWrapper``);
* data: every split of every run can be read (e.g. a data root without ``test_batch``);
* protocol: the validation images that choose τ are in no training split: not the student's
  (e.g. BCCD ``trainval`` holds all of ``val``), not the teacher's, whether the study trains the
  teacher or the KD config names a checkpoint (its training split is read from the
  checkpoint's saved config).

Image identity, used for the overlap: for readers with a ``holdout`` (CIFAR), ``(folder, test
file?, index in the files' order)``, the holdout part recomputed with
``classification.datasets.cifar.holdout_indices``; for readers listing image files (VOC/BCCD),
the image's real path; otherwise the dataset config itself (same config = same images).
"""
import copy
import json
import math
import os.path as osp
from typing import Dict, Optional, Set

SEED_MAX = 2 ** 32 - 1
BF16_WRAPPERS = ('CPUAutocastOptimWrapper',)


# ------------------------------------------------------------------------------ values
def check_values(study) -> None:
    """Grid, seeds and samplers of a loaded study config (see the module doc)."""
    where = study.get('study_path', 'the study')
    taus = list(study.get('taus') or [])
    if not taus:
        raise ValueError(f'{where}: the τ grid is empty; give at least one τ (e.g. --taus 2 4 8)')
    try:
        vals = [float(t) for t in taus]
    except (TypeError, ValueError):
        raise ValueError(f'{where}: grid τ values must be numbers, got {taus}') from None
    if any(not (math.isfinite(t) and t > 0) for t in vals) or len(set(vals)) != len(vals):
        raise ValueError(f'{where}: grid τ values must be distinct, finite and > 0, got {taus}')
    seeds = list(study.get('seeds') or [])
    if not seeds:
        raise ValueError(f'{where}: give at least one seed (e.g. --seeds 0 1 2)')
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, int)
           or not 0 <= s <= SEED_MAX]
    if bad:
        raise ValueError(f'{where}: seeds must be integers in [0, {SEED_MAX}] (numpy\'s seed '
                         f'range), got {bad}')
    dup = sorted({s for s in seeds if seeds.count(s) > 1})
    if dup:
        raise ValueError(f'{where}: seed(s) {dup} given more than once; each seed is one set of '
                         f'runs, a duplicate would train and count the same runs twice')
    if not study.get('stochastic'):
        raise ValueError(f'{where}: give at least one stochastic sampler (`stochastic=dict(...)`)')
    if not study.get('arms'):
        raise ValueError(f'{where}: give at least one loss arm (`arms=dict(...)`)')


def check_max_grid_kwh(value: Optional[float]) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f'--max-grid-kwh must be a finite number > 0 (kWh), got {value!r}; '
                         f'leave it out for no limit')


# ------------------------------------------------------------------------------ bf16
def check_bf16(specs, bf16_supported: Optional[bool] = None) -> None:
    """Refuse runs under CPU bf16 autocast on a CPU without native bf16 (``bf16_supported``:
    the CPU's answer; default: ask this CPU)."""
    runs = [s.label for s in specs
            if str((s.cfg.get('optim_wrapper') or {}).get('type', '')) in BF16_WRAPPERS]
    if not runs:
        return
    if bf16_supported is None:
        import torch
        if torch.cuda.is_available():
            return
        from mmkd_green.utils.cpu_autocast import cpu_bf16_supported
        bf16_supported = cpu_bf16_supported()
    if not bf16_supported:
        raise RuntimeError(f'{len(runs)} run(s) ({runs[0]}, ...) train under bf16 autocast, but '
                           f'this CPU has no native bf16 (avx512_bf16 or AMX): run that arm on a '
                           f'CPU with bf16, or drop its optim_wrapper.type override')


# ------------------------------------------------------------------------------ datasets
def _dataset_cfg(cfg, split: str):
    dl = cfg.get(f'{split}_dataloader')
    return None if dl is None else dl.get('dataset')


def build_dataset(cfg, ds_cfg):
    """The dataset of ``ds_cfg`` in ``cfg``'s registry scope (its custom_imports imported)."""
    from mmengine.registry import DATASETS, DefaultScope
    from mmengine.utils import import_modules_from_strings
    import mmkd_green  # noqa: F401
    if cfg.get('custom_imports'):
        import_modules_from_strings(**cfg.custom_imports)
    ds_cfg = copy.deepcopy(ds_cfg.to_dict() if hasattr(ds_cfg, 'to_dict') else dict(ds_cfg))
    ds_cfg['pipeline'] = []
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope')):
        return DATASETS.build(ds_cfg)


def _cfg_key(ds_cfg) -> str:
    d = ds_cfg.to_dict() if hasattr(ds_cfg, 'to_dict') else dict(ds_cfg)
    d = {k: v for k, v in d.items() if k != 'pipeline'}
    return json.dumps(d, sort_keys=True, default=str)


def image_ids(cfg, ds_cfg, dataset=None) -> Set:
    """The identities of the images of a split (module doc)."""
    dataset = dataset if dataset is not None else build_dataset(cfg, ds_cfg)
    if hasattr(dataset, 'holdout') and hasattr(dataset, 'images'):
        from mmkd_green.classification.datasets.cifar import holdout_indices
        folder = osp.realpath(dataset.data_root or '.')
        test = bool(getattr(dataset, 'test_mode', False))
        if dataset.holdout is None:
            idx = range(len(dataset))
        else:
            whole = build_dataset(cfg, dict(ds_cfg, holdout=None, indices=None))
            part = holdout_indices(whole.labels, dataset.holdout['fraction'],
                                   dataset.holdout['seed'])[dataset.holdout['part']]
            idx = part[:len(dataset)]
        return {(folder, test, int(i)) for i in idx}
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    if infos and all('img_path' in info for info in infos):
        return {osp.realpath(info['img_path']) for info in infos}
    return {('config', _cfg_key(ds_cfg))}


def _teacher_train_split(study, spec, teacher_spec):
    """(config, dataset config) the teacher of ``spec`` was trained on, from the study's teacher
    run or from the KD config's checkpoint (its saved config)."""
    if teacher_spec is not None:
        return teacher_spec.cfg, _dataset_cfg(teacher_spec.cfg, 'train')
    ckpt = spec.cfg.model.get('teacher_ckpt')
    if not ckpt:
        return None
    if not osp.isfile(ckpt):
        raise FileNotFoundError(f'{spec.label}: teacher checkpoint {ckpt} not found; train the '
                                f'teacher first or give the study a `teacher=` to train one')
    if study.get('teacher_excludes_validation'):
        return None
    from mmengine.config import Config
    import torch
    meta = (torch.load(ckpt, map_location='cpu', weights_only=False) or {}).get('meta') or {}
    text = meta.get('cfg')
    if not text:
        raise ValueError(f'{spec.label}: teacher checkpoint {ckpt} holds no training config, so '
                         f'the study cannot tell whether the teacher saw the validation images. '
                         f'Give the study a `teacher=` to train one on the training part, or set '
                         f'`teacher_excludes_validation=True` in the study if you know it did not')
    tcfg = Config.fromstring(text, '.py')
    return tcfg, _dataset_cfg(tcfg, 'train')


def check_data_and_splits(study, specs) -> None:
    """Every split of every run is readable; no validation image is in a training split."""
    teacher = next((s for s in specs if s.kind == 'teacher'), None)
    cache: Dict[str, tuple] = {}

    def ids(cfg, ds_cfg, what):
        key = _cfg_key(ds_cfg) + str(cfg.get('default_scope'))
        if key not in cache:
            try:
                ds = build_dataset(cfg, ds_cfg)
                n = len(ds)
            except Exception as e:   # noqa: BLE001  (any reader error: name the split)
                raise ValueError(f'{what} cannot be read: {type(e).__name__}: {e}. Point the '
                                 f'study at a complete dataset (--data-root / data_root).') from e
            if n == 0:
                raise ValueError(f'{what} is empty; check the data root and the split files')
            cache[key] = (n, image_ids(cfg, ds_cfg, ds))
        return cache[key][1]

    seen = set()
    for spec in specs:
        splits = ('train', 'val', 'test')
        sig = tuple(_cfg_key(_dataset_cfg(spec.cfg, s) or {}) for s in splits) + (
            spec.kind == 'teacher', spec.arm)
        if sig in seen:
            continue
        seen.add(sig)
        got = {s: ids(spec.cfg, _dataset_cfg(spec.cfg, s), f'{spec.label}: the {s} split')
               for s in splits if _dataset_cfg(spec.cfg, s) is not None}
        if spec.kind == 'teacher':
            continue
        val = got['val']
        both = val & got['train']
        if both:
            raise ValueError(
                f'{spec.label}: {len(both)} of the {len(val)} validation images (where τ is '
                f'chosen) are in the student\'s training split (e.g. BCCD trainval holds all of '
                f'val). Train on a split without them: --cfg-options '
                f'train_dataloader.dataset.ann_file=ImageSets/Main/train.txt, or a CIFAR '
                f'`holdout=dict(fraction=0.1)`')
        t = _teacher_train_split(study, spec, teacher)
        if t is not None and t[1] is not None:
            both = val & ids(t[0], t[1], f'{spec.label}: the teacher\'s training split')
            if both:
                raise ValueError(
                    f'{spec.label}: the teacher was trained on {len(both)} of the {len(val)} '
                    f'validation images, so its soft labels carry them into every run and the '
                    f'τ choice. Give the study a `teacher=` (trained on the training part only, '
                    f'see configs/tau_study/cpu.py) or a teacher trained without them')

