"""A data-free train loop for mmengine's Runner: synthesis rounds alternating with KD steps.

One epoch = ``ep_steps`` KD iterations; before every ``kd_steps``-th of them the loop runs one
synthesis round (``model.synthesize()``), as upstream CMI's ``datafree_kd.py`` (epoch: for
``ep_steps // kd_steps`` rounds, synthesize then distil ``kd_steps`` batches)::

    before_train_epoch
      round r = 0 .. ep_steps/kd_steps − 1:
        synthesize()                                   (inside the epoch: metered)
        kd_steps × [before_train_iter(batch_idx, data_batch) → train_step → after_train_iter]
    after_train_epoch

Only the standard hook calls are made, so ``TemperatureHook`` publishes τ before every KD step
and ``CarbonFootprintHook`` brackets every epoch (synthesis included) unchanged. That hook counts
FLOPs of train steps only; the synthesis FLOPs (torch's ``FlopCounterMode``, 2 × multiply-
accumulates: the first step of a real round counted, times its steps, whenever the round's shapes
differ from every round counted so far, e.g. while CMI's feature bank fills; see
:mod:`.synthesis_flops`) are published
per round as the log scalar ``train/synth_flops`` and as the running total in the runtime info
``dfkd_synthesis_flops`` (saved in checkpoints). The Runner needs
a ``train_dataloader``; here it is ``dict(batch_size=B)``: the loop replaces it by
:class:`SyntheticBatches`, an iterable over bank samples with ``len() = ep_steps`` (what the
LogProcessor and the schedulers read).

Distributed training (DDP, ``--launcher pytorch``): every rank runs the whole loop: its own
synthesis rounds into its own bank (through the unwrapped student and the frozen teacher; no
collective inside a round) and KD steps on batches drawn from that bank, whose gradients DDP
averages, so one step distils ``world_size × B`` synthetic images and the student's parameters
stay identical on every rank. What this loop adds:

* **Per-rank randomness.** With mmengine's default ``randomness`` every rank starts from the same
  global seed, so all ranks would synthesize bit-identical images and draw identical KD batches
  (DDP would then average identical gradients: ``world_size`` times the compute for nothing).
  Before every epoch the loop therefore seeds torch's RNG with
  ``SeedSequence([runner.seed, rank, epoch])``: ranks synthesize different images (targets,
  noise, generator re-initialisation, augmentations) and draw different KD batches; an epoch's
  random stream does not depend on whether the run was resumed. τ is unaffected: the
  ``TemperatureHook`` draws it as a pure function of (sampler seed, iteration), identical on
  every rank. (Upstream CMI instead shares one image pool through a ``DistributedSampler``; per-
  rank banks need no gathering of images and give the same effect: each KD step averages over
  ``world_size`` disjoint draws.) Single-process runs do not reseed and are unchanged.
  ``randomness.diff_rank_seed`` is not needed (and harmless: ``TemperatureHook`` seeds its sampler
  with rank 0's seed, so τ stays identical on every rank).
* **Checkpoints.** mmengine saves on rank 0 only, so a checkpoint's ``_extra_state`` holds rank
  0's synthesizer state (bank, generator, CMI head and feature bank). On resume every rank loads
  that file: all ranks continue from rank 0's synthesizer state (the other ranks' banks are
  not saved and are lost); the banks diverge again from the first new round on. Student
  parameters are identical on every rank anyway; BatchNorm running statistics follow the model
  wrapper's ``broadcast_buffers`` (mmengine's default and ``init_cpu_distributed``: ``False``, so
  each rank keeps its own and the checkpoint has rank 0's).
* **Initial weight sync.** ``Runner._init_model_weights`` broadcasts every ``state_dict()`` entry
  from rank 0, which fails on the distiller's ``_extra_state`` (a dict, not a tensor:
  ``TypeError: data should be a Tensor ...``). The loop (built before that call) makes the runner
  broadcast the tensor entries only, i.e. parameters and buffers as intended.

Only rank 0 saves PNG grids (of its own images); the ``train/synth_*`` log scalars are rank 0's.
"""
import os
import os.path as osp
from typing import Optional

import numpy as np
import torch
from mmengine.dist import broadcast
from mmengine.model import is_model_wrapper
from mmengine.registry import LOOPS
from mmengine.runner import EpochBasedTrainLoop

from ..utils.hub_keys import EXTRA_TRAIN_FLOPS_KEY
from .synthesis_flops import SynthesisFlopCounter

SYNTH_FLOPS_KEY = 'dfkd_synthesis_flops'   # runtime info: synthesis FLOPs so far in the run


class SyntheticBatches:
    """Stands in for the train DataLoader: ``len()`` KD batches drawn from the model's bank."""

    dataset = None       # the Runner reads ``dataloader.dataset.metainfo`` (none here)

    def __init__(self, runner, batch_size: int, length: int):
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f'train_dataloader.batch_size must be an int >= 1, got {batch_size!r}')
        self.runner, self.batch_size, self.length = runner, batch_size, length

    def __len__(self) -> int:
        return self.length

    def __iter__(self):
        model = unwrap(self.runner.model)
        for _ in range(self.length):
            yield model.sample_batch(self.batch_size)


def unwrap(model):
    return model.module if is_model_wrapper(model) else model


def rank_epoch_seed(seed: int, rank: int, epoch: int) -> int:
    """The torch seed of ``rank`` in ``epoch`` under DDP (distinct per rank and epoch)."""
    return int(np.random.SeedSequence([int(seed) % 2 ** 32, rank, epoch]).generate_state(1)[0])


def _broadcast_tensor_state_only(runner) -> None:
    """Replace ``runner._init_model_weights`` by the same weight init + rank-0 broadcast, skipping
    ``state_dict()`` entries that are not tensors (the distiller's ``_extra_state``)."""
    def init_model_weights() -> None:
        model = unwrap(runner.model)
        if hasattr(model, 'init_weights'):
            model.init_weights()
            for value in model.state_dict().values():
                if torch.is_tensor(value):
                    broadcast(value)

    runner._init_model_weights = init_model_weights


@LOOPS.register_module()
class DataFreeTrainLoop(EpochBasedTrainLoop):
    """Args:
        runner: the Runner. dataloader: ``dict(batch_size=B)`` (KD batch size).
        max_epochs: epochs. ep_steps: KD steps per epoch. kd_steps: KD steps per synthesis round
            (``ep_steps`` must be a multiple).
        val_begin, val_interval: as ``EpochBasedTrainLoop`` (used only with a val loop).
        grid_interval: every this many epochs save a PNG grid of the last round's images to
            ``<work_dir>/synthetic/epoch_<e>.png`` (0: never).
        progress: show tqdm progress bars for synthesis steps and KD steps.
        count_flops: count the FLOPs of synthesis rounds (exact per round, see above).
        bank_storage: ``'work_dir'`` (default): every round writes its images (and CMI's
            features, float16) once to ``<work_dir>/synthesis_rounds/rank<r>/`` and checkpoints
            refer to those files (107 MB instead of 1150 MB at the paper's CMI settings, see
            :mod:`.synthesis.round_store`); ``'checkpoint'``: the banks themselves go into every
            checkpoint (self-contained files).
    """

    def __init__(self, runner, dataloader, max_epochs: int, ep_steps: int = 400,
                 kd_steps: int = 400, val_begin: int = 1, val_interval: int = 1,
                 grid_interval: int = 1, progress: bool = False, count_flops: bool = True,
                 bank_storage: str = 'work_dir'):
        for key, val in dict(max_epochs=max_epochs, ep_steps=ep_steps, kd_steps=kd_steps).items():
            if not isinstance(val, int) or val < 1:
                raise ValueError(f'DataFreeTrainLoop: `{key}` must be an int >= 1, got {val!r}')
        if bank_storage not in ('work_dir', 'checkpoint'):
            raise ValueError(f'DataFreeTrainLoop: bank_storage must be "work_dir" or "checkpoint", '
                             f'got {bank_storage!r}')
        if ep_steps % kd_steps:
            raise ValueError(f'DataFreeTrainLoop: ep_steps ({ep_steps}) must be a multiple of '
                             f'kd_steps ({kd_steps}): each round distils kd_steps batches')
        if isinstance(dataloader, dict):
            unknown = set(dataloader) - {'batch_size'}
            if 'batch_size' not in dataloader or unknown:
                raise ValueError('data-free KD reads no dataset: set `train_dataloader = '
                                 f'dict(batch_size=B)` only, got keys {sorted(dataloader)}')
            dataloader = SyntheticBatches(runner, dataloader['batch_size'], ep_steps)
        self.ep_steps, self.kd_steps = ep_steps, kd_steps
        self.grid_interval, self.progress = int(grid_interval), bool(progress)
        self.count_flops = bool(count_flops)
        self.synthesis_flops_per_round: Optional[int] = None    # the last round's
        self.synthesis_flops = SynthesisFlopCounter()
        super().__init__(runner, dataloader, max_epochs, val_begin, val_interval)
        self.last_synthesis: Optional[dict] = None
        if runner.distributed:
            _broadcast_tensor_state_only(runner)
        self.bank_storage = bank_storage
        if bank_storage == 'work_dir':
            from .synthesis.round_store import RoundStore
            unwrap(runner.model).synthesizer.attach_store(RoundStore(osp.join(
                runner.work_dir, 'synthesis_rounds', f'rank{runner.rank}')))

    # -- synthesis -------------------------------------------------------------------------
    def synthesis_round(self, round_idx: int) -> dict:
        model = unwrap(self.runner.model)
        bar, callback = None, None
        if self.progress:
            from tqdm import tqdm
            bar = tqdm(total=model.synthesizer.iterations, leave=False, dynamic_ncols=True,
                       desc=f'epoch {self._epoch + 1} synthesis {round_idx + 1}')

            every = max(1, model.synthesizer.iterations // 10)

            def callback(step, losses):
                bar.update(1)
                if (step + 1) % every == 0:   # reading the loss tensors is a host sync
                    bar.set_postfix({k: f'{float(v):.3g}' for k, v in losses.items()},
                                    refresh=False)
        try:
            if self.count_flops:
                out, self.synthesis_flops_per_round = self.synthesis_flops(
                    model.synthesizer, lambda: model.synthesize(progress=callback))
            else:
                out = model.synthesize(progress=callback)
        finally:
            if bar is not None:
                bar.close()
        hub = self.runner.message_hub
        if self.synthesis_flops_per_round is not None:
            hub.update_scalar('train/synth_flops', float(self.synthesis_flops_per_round))
            total = (hub.get_info(SYNTH_FLOPS_KEY) or 0) + self.synthesis_flops_per_round
            hub.update_info(SYNTH_FLOPS_KEY, total)
            # counted by the meter as training FLOPs (synthesis is most of the compute here)
            hub.update_info(EXTRA_TRAIN_FLOPS_KEY,
                            (hub.get_info(EXTRA_TRAIN_FLOPS_KEY) or 0) + self.synthesis_flops_per_round)
        for key, val in out['losses'].items():
            hub.update_scalar(f'train/synth_{key}', val)
        hub.update_scalar('train/bank_size', len(model.synthesizer.bank))
        self.last_synthesis = out
        return out

    def save_grid(self) -> Optional[str]:
        if self.last_synthesis is None or self.grid_interval <= 0 or \
                (self._epoch + 1) % self.grid_interval:
            return None
        from mmengine.dist import is_main_process
        if not is_main_process():
            return None
        from .visualize import save_image_grid
        path = osp.join(self.runner.work_dir, 'synthetic', f'epoch_{self._epoch + 1}.png')
        os.makedirs(osp.dirname(path), exist_ok=True)
        return save_image_grid(self.last_synthesis['images'], path)

    # -- the epoch -------------------------------------------------------------------------
    def seed_rank(self) -> None:
        """DDP only: seed torch's RNG per (run seed, rank, epoch), see the module docstring."""
        if self.runner.distributed:
            torch.manual_seed(rank_epoch_seed(self.runner.seed, self.runner.rank, self._epoch))

    def run(self):
        if self.runner.distributed and self._epoch > 0 and self.runner.world_size > 1:
            self.runner.logger.info(
                'DataFreeTrainLoop: resumed under DDP; every rank continues from the checkpoint\'s '
                '(rank 0\'s) synthesizer state, the ranks\' banks diverge from the next round on')
        return super().run()

    def run_epoch(self) -> None:
        self.seed_rank()
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        bar = None
        if self.progress:
            from tqdm import tqdm
            bar = tqdm(total=self.ep_steps, dynamic_ncols=True,
                       desc=f'epoch {self._epoch + 1}/{self._max_epochs} KD')
        batches = iter(self.dataloader)
        for idx in range(self.ep_steps):
            if idx % self.kd_steps == 0:
                self.synthesis_round(idx // self.kd_steps)
            self.run_iter(idx, next(batches))
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
        self.save_grid()
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1
