from typing import Optional

import torch
from mmengine.hooks import Hook

from ..registry import HOOKS, TEMPERATURE_SAMPLERS
from .base import BaseTemperatureSampler
from .current import publish_temperature


def infer_batch_size(data_batch) -> Optional[int]:
    """Batch size of an mmengine data batch.

    ``dict(inputs=..., data_samples=...)`` (mmdet / pseudo_collate): the size of ``inputs``, a
    batched tensor or a list of per-image tensors; a collated ``(inputs, targets)`` sequence: the
    first dimension of ``inputs``. Called every iteration (τ sampler, meter): the two usual
    collates with tensor inputs are recognised first by exact type, the cheapest test.
    """
    kind = type(data_batch)
    if kind is dict:
        inputs = data_batch.get('inputs')
        if type(inputs) is torch.Tensor:
            return inputs.shape[0]
    elif (kind is list or kind is tuple) and data_batch and type(data_batch[0]) is torch.Tensor:
        return data_batch[0].shape[0]
    if isinstance(data_batch, dict):
        inputs = data_batch.get('inputs')
        return None if inputs is None else (
            int(inputs.shape[0]) if hasattr(inputs, 'shape') else len(inputs))
    if isinstance(data_batch, (list, tuple)) and data_batch:
        first = data_batch[0]
        return int(first.shape[0]) if hasattr(first, 'shape') else len(data_batch)
    if hasattr(data_batch, 'shape'):
        return int(data_batch.shape[0])
    return None


def build_sampler(cfg) -> BaseTemperatureSampler:
    """Build a sampler from ``dict(type=..., **kwargs)``.

    Looked up in TEMPERATURE_SAMPLERS directly: the registry has no scope tree to switch into,
    so going through ``Registry.build`` under a runner's default scope only adds a warning.
    """
    args = dict(cfg)
    name = args.pop('type', None)
    cls = name if isinstance(name, type) else TEMPERATURE_SAMPLERS.get(name)
    if cls is None:
        raise KeyError(f'unknown temperature sampler {name!r}; registered: '
                       f'{sorted(TEMPERATURE_SAMPLERS.module_dict)}')
    return cls(**args)


def refuse_loss_level_tau(model, sampler) -> None:
    """A KD loss with its own fixed ``tau`` would ignore the run's sampler while the logs, the
    carbon records and the reports name the sampler: refuse the combination with the fix."""
    from mmkd_green.losses.base import BaseKDLoss
    fixed = [(name, m.tau) for name, m in model.named_modules()
             if isinstance(m, BaseKDLoss) and m.tau is not None]
    if fixed:
        name, tau = fixed[0]
        raise ValueError(
            f'the KD loss `{name or "model"}` has its own fixed tau={tau}, which would override '
            f'the run\'s τ sampler {sampler!r} while the records name the sampler. Remove the '
            f'loss-level tau and set the run\'s τ instead: temperature = '
            f'dict(type="ConstantTemperature", tau={tau}) (or --cfg-options '
            f'"temperature=dict(type=ConstantTemperature,tau={tau})").')


@HOOKS.register_module()
class TemperatureHook(Hook):
    """Builds the run's single temperature sampler and publishes τ before every train iteration.

    The sampler comes from the config's top-level field, e.g.::

        temperature = dict(type='UniformTemperature', low=2.0, high=20.0)
        custom_hooks = [dict(type='TemperatureHook')]

    Before iteration ``i`` the hook computes ``τ = sampler(i, batch_size)`` and puts it on the
    MessageHub (``kd_temperature`` runtime info for the losses, ``train/tau`` scalar for the logs
    and the visualizer). A sampler without a seed uses the runner's seed (rank 0's, also with
    ``randomness.diff_rank_seed=True``), which is stored in every checkpoint and restored on
    resume, so a resumed run continues the exact τ sequence.

    Args:
        sampler (dict, optional): only for runs whose config has no ``temperature`` field; giving
            both is an error (one sampler per run).
    """

    priority = 'VERY_HIGH'   # before every hook or loss that reads τ

    def __init__(self, sampler: Optional[dict] = None):
        self.sampler_cfg = sampler
        self.sampler: Optional[BaseTemperatureSampler] = None

    def before_run(self, runner) -> None:
        others = [h for h in runner.hooks if isinstance(h, TemperatureHook) and h is not self]
        if others:
            raise ValueError('Exactly one TemperatureHook per run: the config registers '
                             f'{len(others) + 1}. Remove the extra entries from `custom_hooks`.')
        top = runner.cfg.get('temperature', None) if runner.cfg is not None else None
        if top is not None and self.sampler_cfg is not None:
            raise ValueError('Two temperature samplers configured (top-level `temperature` and '
                             '`TemperatureHook(sampler=...)`): keep only the top-level field.')
        cfg = top if top is not None else self.sampler_cfg
        if cfg is None:
            raise ValueError('TemperatureHook found no sampler: add a top-level field such as '
                             '`temperature = dict(type="UniformTemperature", low=2.0, high=20.0)`.')
        self.sampler = cfg if isinstance(cfg, BaseTemperatureSampler) else build_sampler(cfg)
        refuse_loss_level_tau(runner.model, self.sampler)
        if self.sampler.seed is None:
            seed = int(runner.seed) % (2 ** 32) if runner.seed is not None else 0
            # rank 0's: with `randomness.diff_rank_seed=True` the runner's seed differs per rank,
            # but every rank must draw the same τ
            from mmengine.dist import broadcast_object_list, get_world_size
            if get_world_size() > 1:
                box = [seed]
                broadcast_object_list(box, src=0)
                seed = int(box[0])
            self.sampler.seed = seed
        if getattr(self.sampler, 'total_iters', 0) is None:
            self.sampler.total_iters = int(runner.max_iters)
        runner.logger.info(f'KD temperature sampler: {self.sampler!r}')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['kd_temperature_seed'] = self.sampler.seed

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        seed = checkpoint.get('meta', {}).get('kd_temperature_seed')
        if seed is not None and self.sampler is not None:
            self.sampler.seed = int(seed)

    def current(self, iteration: int, data_batch=None):
        return self.sampler(iteration, infer_batch_size(data_batch))

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        publish_temperature(self.current(runner.iter, data_batch), runner.message_hub)
