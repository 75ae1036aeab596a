"""``CarbonFootprintHook``: the :class:`~.meter.EnergyMeter` + FLOPs + τ summary for any
mmengine training loop (``EpochBasedTrainLoop``, ``IterBasedTrainLoop`` or a custom loop that
calls the standard hooks, like the data-free KD loop).

Config::

    custom_hooks = [dict(type='TemperatureHook'),
                    dict(type='CarbonFootprintHook', pue=1.67, carbon_intensity=None,
                         country=None, cpu_power_per_core_w=None, count_flops=True)]

Output (rank 0), under ``<work_dir>/carbon/``:

* ``carbon.jsonl``: a ``start`` line (sources, settings, ``run_info``: config, sampler); after
  every epoch (iteration-based loops: every ``interval`` iterations) one ``epoch`` line, appended
  (fsynced in the background, :mod:`.records`): seconds, energy per component with its method,
  PUE, intensity, kWh before/after PUE, g CO2, train FLOPs, τ summary; a ``val`` line with the
  metrics after every validation; a ``final`` line (the time after the last epoch, e.g. the last
  validation) when the run ends;
  a ``predicted`` line (the whole run's kWh, g CO2, seconds) after ``predict_after`` epochs and a
  ``budget_stop`` line when a budget stops the run (:mod:`.forecaster`);
* ``summary.json``: totals (:func:`~.report.aggregate` of the jsonl), ``run_info`` and
  ``prediction`` (predicted vs actual, relative error).

Scalars go to the runner's visualizer (TensorBoard when configured): ``carbon/energy_kwh``,
``carbon/co2_g``, ``carbon/cum_co2_g``, ``carbon/train_flops``, ``carbon/<component>_j``.

FLOPs (see :mod:`.flops`): counted on the first real train iteration of the first segment (again
only when a segment starts with other input shapes or another model), and on
the first real val/test iteration for the per-image inference FLOPs; a run without validation
counts one sample of its first train batch at the end, in eval mode under ``no_grad`` (the
training mode is restored). No extra train-mode forward is ever run.

A failure of the meter never stops training: it is logged once and the segment is marked
``measured: false``. Bad settings (PUE < 1, negative intensity, unknown country) raise when
the hook is built, i.e. before training starts.
"""
import functools
import os.path as osp
import uuid
from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..registry import HOOKS
from ..temperature.hook import infer_batch_size
from ..utils.hub_keys import EXTRA_TRAIN_FLOPS_KEY, TAU_INFO_KEY
from .budget import CarbonBudget
from .flops import StepFlopCounter, flop_cache_key, scale_train_flops
from .forecaster import RunForecaster, prediction_summary
from .meter import DEFAULT_RAPL_ROOT, EnergyMeter
from .report import CARBON_DIR, JSONL_NAME, SUMMARY_NAME
from .settings import DEFAULT_PUE, check_interval
from .tau_stats import TauStats
from .writer import CarbonRecords


def _guarded(method):
    """Run a hook method; on error log once per method, mark the segment, never raise."""
    @functools.wraps(method)
    def wrapper(self, runner, *args, **kwargs):
        try:
            return method(self, runner, *args, **kwargs)
        except Exception as err:  # noqa: BLE001  (the meter must never stop training)
            self._segment_ok = False
            if method.__name__ not in self._failed:
                self._failed.add(method.__name__)
                runner.logger.warning(
                    f'CarbonFootprintHook.{method.__name__} failed ({err!r}); training goes on, '
                    'the current segment is marked unmeasured (logged once per method)')
    return wrapper


def _first_sample(batch, in_dict=False):
    """One sample of a data batch, same structure (tensors copied, so the batch can be freed)."""
    if torch.is_tensor(batch):
        return batch[:1].clone()
    if isinstance(batch, dict):
        return {k: _first_sample(v, in_dict=True) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        if in_dict:   # pseudo_collate: lists of per-sample items (an image is (C, H, W): the
            # first item whole, not sliced)
            return [v.clone() if torch.is_tensor(v) else v for v in batch[:1]]
        return type(batch)(_first_sample(v) for v in batch)   # default_collate: batch fields
    return batch


def _batch_size(data_batch):
    """:func:`infer_batch_size`, or ``None`` when the size of an odd batch cannot be told."""
    try:
        return infer_batch_size(data_batch)
    except (TypeError, IndexError, AttributeError, KeyError):
        return None


def summarise_iterations(log):
    """``(iterations, samples or None if any batch size is unknown, τ summary)`` of a
    segment's ``(τ, batch size)`` pairs."""
    stats, samples = TauStats(), 0
    for tau, bs in log:
        stats.add(tau)
        if bs is None or samples is None:
            samples = None
        else:
            samples += bs
    return len(log), samples, stats.summary()


@HOOKS.register_module()
class CarbonFootprintHook(Hook):
    """Energy (kWh before/after PUE), g CO2-eq, FLOPs and τ of a training run.

    Args:
        pue (float): power usage effectiveness, >= 1 (default 1.67, Uptime Institute 2019).
        carbon_intensity (float, optional): g CO2-eq/kWh (default 475.0: IEA world average).
        country (str, optional): ISO alpha-2 code looked up in carbontracker's table instead.
        live_intensity (dict, optional): opt-in network lookup, see :class:`EnergyMeter`.
        cpu_power_per_core_w (float, optional): W per busy core for the CPU-time estimate.
        count_flops (bool): count train and inference FLOPs (default True).
        interval (int, optional): iteration-based loops only: iterations per record (default: the
            loop's ``val_interval``, else 1000).
        gpu_devices: ``'auto'`` (the CUDA devices holding the model's parameters), a list of CUDA
            indices, or ``None``.
        rapl_root (str): powercap directory; poll_interval_s (float): background poll period.
        predict_after (int): epochs (iteration loops: intervals) measured before the whole run's
            cost is predicted (``predicted`` line, see :mod:`.forecaster`); default 1.
        budget_kwh / budget_co2_g (float, optional): stop at the end of the epoch where the
            prediction or the running total would exceed it (:mod:`.budget`); default none.
        dram_w_per_gb (float, optional): without a RAPL DRAM zone, estimate DRAM energy as this
            many W per GB of resident memory (:mod:`.sources.dram_estimate`); default off.
    """

    priority = 'VERY_HIGH'   # after TemperatureHook's before_train_iter (same level, registered
    #                          earlier), and the FLOP counter closes before logging/checkpointing

    def __init__(self, pue: float = DEFAULT_PUE, carbon_intensity: Optional[float] = None,
                 country: Optional[str] = None, live_intensity: Optional[dict] = None,
                 cpu_power_per_core_w: Optional[float] = None, count_flops: bool = True,
                 interval: Optional[int] = None, gpu_devices='auto',
                 rapl_root: str = DEFAULT_RAPL_ROOT, poll_interval_s: float = 1.0,
                 predict_after: int = 1, budget_kwh: Optional[float] = None,
                 budget_co2_g: Optional[float] = None, dram_w_per_gb: Optional[float] = None):
        check_interval(interval)
        self.meter_args = dict(pue=pue, carbon_intensity=carbon_intensity, country=country,
                               live_intensity=live_intensity,
                               cpu_power_per_core_w=cpu_power_per_core_w,
                               rapl_root=rapl_root, poll_interval_s=poll_interval_s,
                               dram_w_per_gb=dram_w_per_gb)
        self._forecaster = RunForecaster(predict_after, CarbonBudget(budget_kwh, budget_co2_g))
        EnergyMeter(gpu_devices=None if gpu_devices == 'auto' else gpu_devices,
                    **self.meter_args)   # validates every setting now, before training starts
        self.gpu_devices = gpu_devices
        self.count_flops = bool(count_flops)
        self.interval = interval
        self.meter: Optional[EnergyMeter] = None
        self._failed = set()
        self._flops = StepFlopCounter()
        self._val_flops = StepFlopCounter()
        self.infer_flops_per_image: Optional[float] = None
        self._sample = None
        self._last_metrics = None
        self._cum_co2 = 0.0
        self._extra_flops_seen = 0
        self._flop_cache = (None, None)   # (flop_cache_key, (FLOPs, batch size)) of the count
        self._flop_key = None
        self._reset_segment()

    # ------------------------------------------------------------------ helpers
    def _reset_segment(self) -> None:
        self._segment_ok = True
        self._counted = None          # (flops, batch size) of the counted step
        self._iter_log = []           # this segment's (τ, batch size or None) per iteration
        self._armed = False           # the segment's first iteration has been seen
        self._lean = False            # armed, metering and no FLOP count open: one append

    def _is_main(self, runner) -> bool:
        return runner.rank == 0

    def _records(self, runner) -> CarbonRecords:
        return CarbonRecords(runner.work_dir, self.session)

    def _paths(self, runner):
        base = osp.join(runner.work_dir, CARBON_DIR)
        return osp.join(base, JSONL_NAME), osp.join(base, SUMMARY_NAME)

    def _model(self, runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def _gpu_indices(self, runner):
        if self.gpu_devices != 'auto':
            return self.gpu_devices
        devices = {p.device.index for p in self._model(runner).parameters() if p.is_cuda}
        return sorted(d for d in devices if d is not None) or None

    def _run_info(self, runner) -> dict:
        info = dict(experiment=getattr(runner, 'experiment_name', None),
                    work_dir=runner.work_dir, world_size=runner.world_size,
                    by_epoch=self._by_epoch, interval=self._interval)
        cfg = runner.cfg
        if cfg is not None:
            info['config'] = getattr(cfg, 'filename', None)
            temp = cfg.get('temperature', None)
            if temp is not None:
                info['temperature'] = dict(temp)
        for hook in runner.hooks:
            sampler = getattr(hook, 'sampler', None)
            if type(hook).__name__ == 'TemperatureHook' and sampler is not None:
                info['sampler'] = dict(type=type(sampler).__name__, **vars(sampler))
        return info

    # ------------------------------------------------------------------ run
    def before_run(self, runner) -> None:
        from mmengine.runner import BaseLoop, IterBasedTrainLoop
        loop = getattr(runner, '_train_loop', None)
        self._training = isinstance(loop, BaseLoop)
        if not self._training:
            return
        self._by_epoch = not isinstance(loop, IterBasedTrainLoop)
        val_interval = getattr(loop, 'val_interval', None)
        self._interval = self.interval or (val_interval if not self._by_epoch and val_interval
                                           else 1000)
        self.session = uuid.uuid4().hex[:12]
        self._start(runner)

    @_guarded
    def _start(self, runner) -> None:
        # the devices are resolved when the first epoch starts (the model is on them by then)
        meter = EnergyMeter(gpu_devices=functools.partial(self._gpu_indices, runner),
                            logger=runner.logger, **self.meter_args)
        meter.start()
        self.meter = meter
        self._reset_segment()
        self._forecaster.attach(runner, meter, self._paths(runner)[0], self.session,
                                self._by_epoch, self._interval, self._is_main(runner))
        if self._is_main(runner):
            jsonl = self._records(runner).jsonl
            self._records(runner).start(self.meter, self._run_info(runner))
            desc = self.meter.describe()
            runner.logger.info(
                f'CarbonFootprintHook: PUE {desc["pue"]}, {desc["carbon_intensity"]:g} g CO2/kWh '
                f'({desc["intensity_source"]}); ' + '; '.join(
                    f'{c}: {d["method"]}' for c, d in desc['components'].items())
                + f'; records -> {jsonl}')

    def after_run(self, runner) -> None:
        if not getattr(self, '_training', False) or self.meter is None:
            return
        self._flops.exit()
        self._val_flops.exit()
        if self.count_flops and self.infer_flops_per_image is None:
            self._count_inference_at_end(runner)
        self._close_segment(runner, final=True)
        self._write_summary(runner)

    # ------------------------------------------------------------------ train
    def before_train(self, runner) -> None:
        # after load_or_resume: extra FLOPs of earlier attempts were recorded by those attempts
        self._extra_flops_seen = runner.message_hub.get_info(EXTRA_TRAIN_FLOPS_KEY) or 0
        if self.meter is not None:
            self._forecaster.attempt_start(runner)   # collective

    def _take_extra_flops(self, runner) -> int:
        total = runner.message_hub.get_info(EXTRA_TRAIN_FLOPS_KEY) or 0
        delta, self._extra_flops_seen = total - self._extra_flops_seen, total
        return int(delta)

    def before_train_epoch(self, runner) -> None:
        if self.meter is not None:
            self.meter.open_devices()      # first epoch: resolve the GPUs (never raises)
            if self._by_epoch:
                self.meter.epoch_start()
                self._forecaster.unit_start(runner)   # collective when a prediction waits

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        # every iteration but the first of a segment (or the first after a validation): nothing
        if not self._armed:
            self._first_train_iter(runner, data_batch)

    @_guarded
    def _first_train_iter(self, runner, data_batch) -> None:
        if self.meter is None:
            return
        self._armed = True
        self._hub = runner.message_hub
        self._forecaster.unit_start(runner)
        if self.count_flops:
            if self._sample is None and self.infer_flops_per_image is None:
                self._sample = _first_sample(data_batch)
            if self._counted is None:     # first iteration of the segment
                key = flop_cache_key(self._model(runner), data_batch)
                if key == self._flop_cache[0]:
                    self._counted = self._flop_cache[1]   # same model and shapes: re-use
                else:
                    self._flop_key = key
                    self._flops.enter()
        self._lean = not self._flops.active

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._lean:   # every iteration but a segment's first: one append (no guard needed)
            self._iter_log.append((self._hub.get_info(TAU_INFO_KEY), _batch_size(data_batch)))
        elif self.meter is None:
            return
        elif self._flops.active:
            self._count_iter(runner, data_batch)
        else:   # the first iteration failed to arm (logged): still count it
            self._iter_log.append((runner.message_hub.get_info(TAU_INFO_KEY),
                                   _batch_size(data_batch)))
        # outside the guard: every rank must reach the collective in _close_segment
        if not self._by_epoch and (runner.iter + 1) % self._interval == 0:
            self._close_segment(runner, iters_done=runner.iter + 1)
            self._forecaster.unit_end(runner)     # collective; may stop the run (budget)

    @_guarded
    def _count_iter(self, runner, data_batch) -> None:
        """The iteration whose FLOPs were counted."""
        bs = infer_batch_size(data_batch)
        self._counted = (self._flops.exit(), bs)
        self._flop_cache = (self._flop_key, self._counted)
        self._iter_log.append((runner.message_hub.get_info(TAU_INFO_KEY), bs))
        self._lean = True

    def after_train_epoch(self, runner) -> None:
        if self.meter is None:
            return
        self._flops.exit()     # a step that raised leaves the counter open
        if self._by_epoch or self._iter_log:   # (iteration loops: the last partial interval)
            self._close_segment(runner, iters_done=runner.iter)
            self._forecaster.unit_end(runner)     # collective; may stop the run (budget)

    # ------------------------------------------------------------------ val / test
    def before_val_epoch(self, runner) -> None:
        self._armed = self._lean = False   # the next train iteration opens the train phase
        if self.meter is not None:
            self._forecaster.val_start()

    @_guarded
    def before_val_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self.meter is not None and self.count_flops and self.infer_flops_per_image is None:
            self._val_flops.enter()

    @_guarded
    def after_val_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self._val_flops.active:
            flops = self._val_flops.exit()
            bs = infer_batch_size(data_batch)
            if bs:
                self.infer_flops_per_image = flops / bs
                self._sample = None

    before_test_iter = before_val_iter
    after_test_iter = after_val_iter

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._record_val(runner, metrics)
        if self.meter is not None:
            self._forecaster.val_end(runner)      # collective when a prediction waits for it

    @_guarded
    def _record_val(self, runner, metrics=None) -> None:
        if self.meter is None:
            return
        self._val_flops.exit()
        self._last_metrics = dict(metrics) if metrics else None
        if self._is_main(runner):
            self._records(runner).val(runner.epoch, self._last_metrics, iter=runner.iter,
                                      infer_flops_per_image=self.infer_flops_per_image)

    @_guarded
    def _count_inference_at_end(self, runner) -> None:
        """No validation ran: count one stored sample in eval mode, under no_grad."""
        if self._sample is None:
            return
        model = self._model(runner)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                self._val_flops.enter()
                try:
                    model.val_step(self._sample)
                finally:
                    flops = self._val_flops.exit()
        finally:
            model.train(was_training)
        bs = infer_batch_size(self._sample) or 1
        self.infer_flops_per_image = flops / bs
        self._sample = None

    # ------------------------------------------------------------------ records
    def _segment_extra(self, runner, iters_done: int) -> dict:
        iters, samples, tau = summarise_iterations(self._iter_log)
        flops = None
        if self.count_flops and self._counted is not None:
            counted, counted_bs = self._counted
            flops = scale_train_flops(counted, counted_bs if samples is not None else None,
                                      samples or 0, iters)
        extra_flops = self._take_extra_flops(runner)
        if extra_flops:
            flops = (flops or 0) + extra_flops
        extra = dict(session=self.session, epoch=runner.epoch + 1 if self._by_epoch else None,
                     iter=iters_done, iters=iters, samples=samples,
                     train_flops=flops, extra_train_flops=extra_flops,
                     flops_counted_iters=1 if self._counted else 0,
                     tau=tau, infer_flops_per_image=self.infer_flops_per_image)
        if not self._segment_ok:
            extra['hook_error'] = True
        return extra

    def _close_segment(self, runner, iters_done: Optional[int] = None, final: bool = False):
        """``iters_done``: train iterations finished when the segment closes."""
        try:
            extra = self._segment_extra(runner, runner.iter if iters_done is None else iters_done)
        except Exception as err:  # noqa: BLE001
            extra = dict(session=getattr(self, 'session', None), hook_error=repr(err))
        try:
            if final:
                extra.update(epoch=None, **self._forecaster.final_fields())
                record = self.meter.stop(**extra)         # collective on every rank
            else:
                record = self.meter.epoch_end(**extra)    # collective on every rank
        except Exception as err:  # noqa: BLE001
            record = None
            runner.logger.warning(f'CarbonFootprintHook: closing a segment failed ({err!r}); '
                                  'training goes on, this segment is lost')
        self._reset_segment()
        if record is not None and self._is_main(runner):
            self._publish(runner, record)

    @_guarded
    def _publish(self, runner, record: dict) -> None:
        if record.pop('hook_error', None):
            record['measured'] = False
        self._records(runner).segment(record)
        self._cum_co2 += record.get('co2_g') or 0.0
        scalars = {'carbon/energy_kwh': record['energy_kwh'], 'carbon/co2_g': record['co2_g'],
                   'carbon/cum_co2_g': self._cum_co2}
        if record.get('train_flops') is not None:
            scalars['carbon/train_flops'] = float(record['train_flops'])
        for comp, c in record['components'].items():
            if c['energy_j'] is not None:
                scalars[f'carbon/{comp}_j'] = c['energy_j']
        if record['type'] == 'epoch':   # the short final segment only reaches the summary
            step = record['epoch'] if self._by_epoch else record['iter']
            runner.visualizer.add_scalars(scalars, step=step)
        runner.logger.info(
            f'carbon [{record["type"]} {record.get("epoch") or record.get("iter")}]: '
            f'{record["seconds"] or 0:.1f} s, {record["energy_kwh_it"]:.3g} kWh IT, '
            f'{record["energy_kwh"]:.3g} kWh (PUE {record["pue"]}), {record["co2_g"]:.3g} g CO2'
            + ('' if record['measured'] else ' [UNMEASURED parts]'))

    @_guarded
    def _write_summary(self, runner) -> None:
        if not self._is_main(runner):
            return
        writer = self._records(runner)
        totals = writer.summary(self.meter, self._run_info(runner),
                                extra=lambda records, totals: dict(
                                    prediction=prediction_summary(records, totals)))
        summary = writer.summary_path
        runner.logger.info(
            f'carbon total: {totals["energy_kwh"]:.4g} kWh (IT {totals["energy_kwh_it"]:.4g}), '
            f'{totals["co2_g"]:.4g} g CO2, train FLOPs {totals["train_flops"]}, inference '
            f'FLOPs/image {totals["infer_flops_per_image"]}; summary -> {summary}')
