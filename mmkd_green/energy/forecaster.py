"""The prediction and the budget inside ``CarbonFootprintHook``: when to measure, forecast, write
the ``predicted`` line, stop, and what goes into the ``final`` record and ``summary.json``.

Timeline (every rank calls the same methods in the same order; :meth:`unit_end`,
:meth:`val_end` and :meth:`attempt_start` are collectives under DDP, one ``all_gather`` each)::

    attach      meter started          ledger opens 'startup'
    attempt_start  before_train        earlier attempts' cost (rank 0 reads the records); a budget
                                       already spent stops the attempt before any training
    unit_start  train epoch (interval) starts  'train'; a waiting prediction is written
    unit_end    epoch / interval closed 'gap'; the budget verdict, the same on every rank; once
                                       ``predict_after`` units are measured the prediction waits
                                       for that unit's validation and checkpoint (its gap) to end:
                                       it is written at ``val_end`` when a validation follows,
                                       else at the next ``unit_start``
    val_start / val_end                'val' / back

Record lines (rank 0, ``carbon.jsonl``): ``predicted`` (the forecast, see
:func:`.prediction.forecast_run`) and ``budget_stop`` (reason, the epoch it stops after); the
``final`` record gets ``stop_reason``; ``summary.json`` gets ``prediction``
(:func:`prediction_summary`).
"""
import functools
import math
from typing import List, Optional

from .budget import CarbonBudget, saves_last_checkpoint, stop_after_current_unit
from .distributed import all_gather
from .prediction import PhaseLedger, forecast_run, merge_ledgers, prediction_error
from .records import append_record
from .settings import JOULES_PER_KWH

FORECAST_KEYS = ('energy_kwh', 'energy_kwh_it', 'co2_g', 'seconds')


def _dataset_len(loader) -> Optional[int]:
    try:
        return len(loader.dataset)
    except Exception:   # noqa: BLE001
        return None


def _never_raises(method):
    """Like the hook's guard: an error is logged once per method, training goes on."""
    @functools.wraps(method)
    def wrapper(self, runner, *args, **kwargs):
        try:
            return method(self, runner, *args, **kwargs)
        except Exception as err:  # noqa: BLE001
            if method.__name__ not in self._failed:
                self._failed.add(method.__name__)
                runner.logger.warning(f'CarbonFootprintHook: prediction/budget step '
                                      f'{method.__name__} failed ({err!r}); training goes on '
                                      f'(logged once)')
    return wrapper


class RunForecaster:
    """Args: ``predict_after`` (int >= 1, units measured before predicting), ``budget``."""

    def __init__(self, predict_after: int = 1, budget: Optional[CarbonBudget] = None):
        if isinstance(predict_after, bool) or not isinstance(predict_after, int) or predict_after < 1:
            raise ValueError(f'CarbonFootprintHook: `predict_after` must be an int >= 1 (epochs, '
                             f'or intervals of iteration-based loops), got {predict_after!r}')
        self.predict_after = predict_after
        self.budget = budget or CarbonBudget()
        self.ledger: Optional[PhaseLedger] = None
        self.predicted: Optional[dict] = None
        self.stop_reason: Optional[str] = None
        self.exceeded: Optional[str] = None        # the last unit went over the budget
        self.no_prediction: Optional[str] = None   # why this attempt cannot predict
        self._pending = False
        self._before_val = None
        self._write_failed = False
        self._failed = set()

    # ------------------------------------------------------------------ setup
    def attach(self, runner, meter, jsonl: str, session: str, by_epoch: bool, interval: int,
               is_main: bool) -> None:
        self.jsonl, self.session, self.is_main = jsonl, session, is_main
        self.by_epoch, self.interval = by_epoch, interval
        self.meter = meter
        self.ledger = PhaseLedger(meter)
        self.ledger.mark('startup')

    def _plan(self, runner) -> dict:
        loop = runner.train_loop
        val_loop = getattr(runner, '_val_loop', None)
        val_begin, val_interval = getattr(loop, 'val_begin', 1), getattr(loop, 'val_interval', 1)
        if self.by_epoch:
            units, first, last = float(loop.max_epochs), runner.epoch, loop.max_epochs
            steps = range(1, last + 1)
            val_after = [] if val_loop is None else [
                e for e in steps if e >= val_begin and (e % val_interval == 0 or e == last)]
            train_n = _dataset_len(runner.train_dataloader)
            ratio_den = train_n
        else:
            last = loop.max_iters
            units = last / self.interval
            first = runner.iter // self.interval
            val_after = [] if val_loop is None else sorted({
                math.ceil(i / self.interval) for i in range(1, last + 1)
                if i >= val_begin and (i % val_interval == 0 or i == last)})
            bs = getattr(runner.train_dataloader, 'batch_size', None)
            ratio_den = bs * self.interval * runner.world_size if bs else None
        val_n = _dataset_len(val_loop.dataloader) if val_loop is not None else None
        ratio = val_n / ratio_den if val_n and ratio_den else None
        return dict(units_total=units, first_unit=first, val_after=val_after,
                    val_train_ratio=ratio, unit='epoch' if self.by_epoch else 'interval')

    def _earlier(self) -> dict:
        """Cost of the run's earlier attempts (rank 0: its records; other sessions).

        No record file: nothing earlier. Lines that cannot be read are skipped and named in
        ``skipped`` (their energy is unknown); a file that cannot be read raises."""
        from .records import describe_problems, read_records_checked
        from .report import aggregate
        try:
            records, problems = read_records_checked(self.jsonl)
        except FileNotFoundError:
            return dict(energy_j_it=0.0, seconds=0.0, last_unit_j=0.0)
        earlier = [r for r in records if r.get('session') != self.session]
        totals = aggregate(earlier)
        units = [r for r in earlier if r.get('type') == 'epoch']
        return dict(energy_j_it=totals['energy_kwh_it'] * JOULES_PER_KWH,
                    seconds=totals['seconds'],
                    last_unit_j=(units[-1].get('energy_j_it') or 0.0) if units else 0.0,
                    skipped=describe_problems(self.jsonl, problems) if problems else None)

    def _write(self, runner, record: dict) -> None:
        """Append on rank 0; a failure is logged once and never stops training."""
        if not self.is_main:
            return
        try:
            append_record(self.jsonl, dict(record, session=self.session))
        except Exception as err:   # noqa: BLE001
            if not self._write_failed:
                self._write_failed = True
                runner.logger.warning(f'CarbonFootprintHook: writing the {record["type"]} record '
                                      f'failed ({err!r}); training goes on (logged once)')

    # ------------------------------------------------------------------ collectives
    def _gather(self, runner, with_earlier: bool = False):
        """Every rank's ledger and rank 0's settings; the same merged view on every rank."""
        try:
            payload = dict(ledger=self.ledger.snapshot())
            if runner.rank == 0:
                payload.update(pue=self.meter.pue, carbon_intensity=self.meter.carbon_intensity,
                               earlier=None)
                if with_earlier:
                    try:
                        payload['earlier'] = self._earlier()
                    except Exception as err:   # noqa: BLE001  (unknown: see attempt_start)
                        payload['earlier'] = dict(error=f'{type(err).__name__}: {err}')
        except Exception as err:   # noqa: BLE001  (reach the collective on every rank)
            payload = dict(ledger=None, error=repr(err))
            if 'gather' not in self._failed:
                self._failed.add('gather')
                runner.logger.warning(f'CarbonFootprintHook: rank {runner.rank} could not file '
                                      f'its cost ledger ({err!r}); no forecast or budget check '
                                      f'while it fails (logged once)')
        parts = all_gather(payload)
        head = parts[0]
        if any(p.get('ledger') is None for p in parts) or 'pue' not in head:
            return None, head
        return merge_ledgers([p['ledger'] for p in parts]), head

    @_never_raises
    def attempt_start(self, runner) -> None:
        """``before_train`` (after resume): earlier attempts; a spent budget stops at once."""
        if self.ledger is None:
            return
        self.plan = self._plan(runner)
        _, head = self._gather(runner, with_earlier=True)
        earlier = head.get('earlier') or dict(error=head.get('error', 'rank 0 sent no records'))
        unknown = earlier.get('error') or earlier.get('skipped')
        self.earlier = dict(energy_j_it=0.0, seconds=0.0, last_unit_j=0.0) \
            if earlier.get('error') else earlier
        self._say_when_no_prediction(runner)
        if unknown:
            runner.logger.warning(f'CarbonFootprintHook: the earlier attempts\' records were '
                                  f'not all read: {unknown}')
        if unknown and self.budget.active:
            self._stop(runner, f'the spend of earlier attempts is unknown ({unknown}); with a '
                       f'budget set the run stops rather than count it as 0. Fix: repair or '
                       f'delete those lines of {self.jsonl} (or the file, if no earlier attempt '
                       f'counts), then resume', before_any=True)
        elif self.budget.active and 'pue' in head:
            kwh = head['pue'] * self.earlier['energy_j_it'] / JOULES_PER_KWH
            step = head['pue'] * self.earlier['last_unit_j'] / JOULES_PER_KWH
            reason = self.budget.exhausted(
                dict(energy_kwh=kwh, co2_g=kwh * head['carbon_intensity']),
                dict(energy_kwh=step, co2_g=step * head['carbon_intensity']))
            if reason:
                self._stop(runner, reason, before_any=True)
        if self.budget.active and not saves_last_checkpoint(runner):
            runner.logger.warning(
                'CarbonFootprintHook: a budget is set but no CheckpointHook(save_last=True) is '
                'registered, so a budget stop leaves no checkpoint of its last epoch (mmengine\'s '
                'default_hooks.checkpoint has save_last=True)')

    def _say_when_no_prediction(self, runner) -> None:
        """Log (and keep for the ``final`` line) why this attempt cannot predict its cost: the
        prediction comes after ``predict_after`` units, never after the last one."""
        left = self.plan['units_total'] - self.plan['first_unit']
        if left > self.predict_after:
            return
        unit = self.plan['unit']
        self.no_prediction = (f'no cost prediction: {left:g} {unit}(s) left to train and '
                              f'predict_after={self.predict_after}, so the last {unit} ends '
                              f'before a prediction could be made')
        if self.budget.active:
            runner.logger.warning(f'CarbonFootprintHook: {self.no_prediction}; the budget is '
                                  f'checked against the running total at the end of each '
                                  f'{unit} only (the first always runs whole)')
        else:
            runner.logger.info(f'CarbonFootprintHook: {self.no_prediction}')

    def _forecast(self, merged, head, use_units=None, open_gap_done=False):
        return forecast_run(merged, units_total=self.plan['units_total'],
                            first_unit=self.plan['first_unit'], val_after=self.plan['val_after'],
                            val_train_ratio=self.plan['val_train_ratio'], pue=head['pue'],
                            carbon_intensity=head['carbon_intensity'], earlier=self.earlier,
                            use_units=use_units, unit=self.plan['unit'],
                            open_gap_done=open_gap_done)

    def _emit_prediction(self, runner, open_gap_done: bool) -> None:
        """Write the waiting prediction (collective)."""
        self._pending = False
        merged, head = self._gather(runner)
        if merged is None:
            return
        forecast = self._forecast(merged, head, use_units=self.predict_after,
                                  open_gap_done=open_gap_done)
        self._pending = False
        if forecast is None:
            return
        self.predicted = forecast
        self._write(runner, dict(type='predicted', predict_after=self.predict_after, **forecast))
        runner.logger.info(
            f'carbon prediction after {forecast["after_units"]} {forecast["unit"]}(s): whole run '
            f'{forecast["energy_kwh"]:.4g} kWh, {forecast["co2_g"]:.4g} g CO2, '
            f'{forecast["seconds"] / 60:.1f} min ({forecast["method"]})')

    @property
    def _done(self) -> bool:
        """Nothing left to forecast: the prediction is written and no budget is set (the same
        on every rank, as the prediction comes from the gathered ledgers)."""
        return self.ledger is None or (self.predicted is not None and not self.budget.active)

    @_never_raises
    def unit_start(self, runner) -> None:
        if self._done:
            return
        self.ledger.mark('train')
        if self._pending:   # (collective) the previous unit's gap is now closed and measured
            self._emit_prediction(runner, open_gap_done=False)

    @_never_raises
    def unit_end(self, runner) -> None:
        """A train epoch (interval) just closed (collective until :attr:`_done`)."""
        if self._done:
            return
        self.ledger.mark('gap')
        merged, head = self._gather(runner)
        if merged is None:
            return
        done = len(merged['train'])
        unit_no = self.plan['first_unit'] + done
        if self.predicted is None and done >= self.predict_after \
                and unit_no < self.plan['units_total']:
            self._pending = True    # written once this unit's validation and checkpoint are done
            self._val_follows = unit_no in self.plan['val_after']
        if self.budget.active and self.stop_reason is None and self.exceeded is None:
            forecast = self._forecast(merged, head)
            if forecast is None:
                if 'budget_unread' not in self._failed:
                    self._failed.add('budget_unread')
                    runner.logger.warning(
                        f'CarbonFootprintHook: budget NOT checked after {self.plan["unit"]} '
                        f'{unit_no}: its energy could not be read (logged once)')
            elif unit_no < self.plan['units_total']:
                reason = self.budget.verdict(forecast, predicted=done >= self.predict_after)
                if reason:
                    self._stop(runner, reason, forecast=forecast)
            else:   # the last unit: nothing left to stop, but say so when it went over
                self._report_overspend(runner, forecast)

    def val_start(self) -> None:
        if not self._done:
            self._before_val = self.ledger.phase
            self.ledger.mark('val')

    @_never_raises
    def val_end(self, runner) -> None:
        """A validation ended (collective when a prediction waits for it)."""
        if self._done:
            return
        self.ledger.mark(self._before_val or 'gap')
        if self._pending and self._val_follows:
            self._emit_prediction(runner, open_gap_done=True)

    def _report_overspend(self, runner, forecast: dict) -> None:
        """After the last unit: a ``budget_exceeded`` line and a warning if the spend is over."""
        reason = self.budget.overspent(forecast['spent'])
        if reason is None:
            return
        self.exceeded = reason
        self._write(runner, dict(type='budget_exceeded', reason=reason,
                                 budget=self.budget.describe(), spent=forecast['spent']))
        runner.logger.warning(f'CarbonFootprintHook: BUDGET EXCEEDED: {reason}')

    def _stop(self, runner, reason: str, forecast: Optional[dict] = None,
              before_any: bool = False) -> None:
        self.stop_reason = reason
        last = stop_after_current_unit(runner, self.by_epoch, before_any=before_any)
        unit = 'epoch' if self.by_epoch else 'iteration'
        record = dict(type='budget_stop', reason=reason, budget=self.budget.describe(),
                      stops_after=dict(unit=unit, value=last))
        if forecast is not None:
            record['forecast'] = {k: forecast[k] for k in FORECAST_KEYS}
            record['spent'] = forecast['spent']
        self._write(runner, record)
        runner.logger.warning(
            f'CarbonFootprintHook: BUDGET STOP after {unit} {last}: {reason}. The checkpoint of '
            f'that {unit} is saved; continue with --resume and a higher budget_kwh/budget_co2_g.')

    # ------------------------------------------------------------------ end of run
    def final_fields(self) -> dict:
        out = {}
        if self.budget.active:
            out['budget'] = self.budget.describe()
        if self.stop_reason:
            out['stop_reason'] = f'carbon budget: {self.stop_reason}'
        if self.exceeded:
            out['budget_exceeded'] = self.exceeded
        if self.no_prediction:
            out['no_prediction'] = self.no_prediction
        return out


def prediction_summary(records: List[dict], totals: dict) -> Optional[dict]:
    """``summary.json``'s ``prediction``: every ``predicted`` line, the actual totals, the errors.

    The error ``(predicted - actual) / actual`` is filled in only when the run completed its plan
    (its last attempt has no budget stop); a stopped run shows ``error: null`` and why.
    """
    predicted = [r for r in records if r.get('type') == 'predicted']
    stops = [r for r in records if r.get('type') == 'budget_stop']
    exceeded = [r for r in records if r.get('type') == 'budget_exceeded']
    if not predicted and not stops and not exceeded:
        return None
    starts = [r for r in records if r.get('type') == 'start']
    last_session = starts[-1].get('session') if starts else None
    stopped_last = [r for r in stops if r.get('session') == last_session]
    complete = bool(totals.get('finished')) and not stopped_last
    actual = {k: totals.get(k) for k in ('energy_kwh', 'energy_kwh_it', 'co2_g', 'seconds')}
    out = dict(actual=actual, complete=complete, predictions=[], budget_stops=[
        dict(session=r.get('session'), reason=r.get('reason'), stops_after=r.get('stops_after'))
        for r in stops], budget_exceeded=[
        dict(session=r.get('session'), reason=r.get('reason')) for r in exceeded])
    for r in predicted:
        item = dict(session=r.get('session'), after_units=r.get('after_units'),
                    unit=r.get('unit'), method=r.get('method'),
                    **{k: r.get(k) for k in FORECAST_KEYS})
        item['error'] = prediction_error(r, actual) if complete else None
        out['predictions'].append(item)
    if not complete:
        out['note'] = ('no prediction error: the run stopped before its planned end'
                       if stopped_last or not totals.get('finished') else None)
    return out
