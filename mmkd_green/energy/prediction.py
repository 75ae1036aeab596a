"""Predict a whole run's energy, g CO2 and wall time from its first epochs (carbontracker-style,
but with start-up, validation and the between-epoch work kept apart).

Phases. On every rank a :class:`PhaseLedger` reads this process's cumulative joules (the sum of the
meter's sources, i.e. what that rank contributes to the records) and the wall clock at each phase
boundary the hook sees, and files the difference under the phase that just ended::

    start-up : meter start -> first train epoch (loading, resuming, workers...)   once per attempt
    train    : one train epoch (iteration loops: one interval of ``interval`` iterations)
    val      : one validation run
    gap      : after a train epoch, outside validation (checkpoint, logging, schedulers)

(a validation inside an iteration loop's interval splits that interval's train phase: its parts
are summed into one train unit).

The ranks' ledgers are summed (joules) and maxed (seconds) before forecasting, so every rank gets
the same forecast. Forecast after ``u`` of the run's ``U`` units (epochs or intervals)::

    J_pred = J_spent + (U - u) * mean(J_train) + n_val_left * J_val + n_gap_left * mean(J_gap)
    kWh    = PUE * J / 3.6e6       g CO2 = kWh * carbon intensity       (seconds: same sums)

``J_spent`` = earlier attempts of the run (from its records) + start-up + everything measured so far
in this attempt; the start-up is paid once and never extrapolated. ``J_val``: the mean measured
validation; before any validation was measured, ``mean(J_train) * r / 3`` with ``r`` = validation
samples / train samples per unit (a validation step is a forward pass, about a third of a
forward + backward training step). ``n_gap_left`` counts the gap after every remaining unit, and the
open one unless it is complete (the prediction waits for it: see :mod:`.forecaster`). The method string of each forecast
says which of these terms were measured and which estimated.
"""
import math
import time
from typing import Dict, List, Optional, Sequence

from .settings import JOULES_PER_KWH

PHASES = ('startup', 'train', 'val', 'gap')
VAL_FORWARD_FRACTION = 1.0 / 3.0


def local_joules(meter) -> Optional[float]:
    """Cumulative joules of this process's open meter sources (``None`` if one cannot be read)."""
    total = 0.0
    for source in meter.sources:
        readings = source.read()
        for value in readings.values():
            if value is None:
                return None
            total += float(value)
    return total


class PhaseLedger:
    """Joules and seconds per phase on this rank (see the module docstring)."""

    def __init__(self, meter):
        self.meter = meter
        self.phase = None
        self.ok = True
        self.startup = [0.0, 0.0]
        self.train: List[List[float]] = []
        self.val: List[List[float]] = []
        self.gap: List[List[float]] = []       # one per train unit; the last may be open
        self._unit = None      # the train unit in progress (a validation may split it)
        self._last = None

    def _read(self):
        try:
            joules = local_joules(self.meter)
        except Exception:   # noqa: BLE001  (a failing source: the forecast is off, training goes on)
            joules = None
        if joules is None:
            self.ok = False
        return joules, time.monotonic()

    def mark(self, phase: str) -> None:
        """Close the current phase and open ``phase`` (a no-op if it is already open)."""
        if phase not in PHASES:
            raise ValueError(f'unknown phase {phase!r}; one of {PHASES}')
        if phase == self.phase:
            return
        now = self._read()
        if self.phase is not None and self._last is not None:
            joules = (now[0] - self._last[0]) if None not in (now[0], self._last[0]) else 0.0
            delta = [joules, now[1] - self._last[1]]
            if self.phase == 'startup':
                self.startup = [a + b for a, b in zip(self.startup, delta)]
            elif self.phase == 'gap':
                if self.gap:
                    self.gap[-1] = [a + b for a, b in zip(self.gap[-1], delta)]
                else:   # a validation before the first train unit: count it with the start-up
                    self.startup = [a + b for a, b in zip(self.startup, delta)]
            elif self.phase == 'train':
                self._unit = delta if self._unit is None else [
                    a + b for a, b in zip(self._unit, delta)]
            else:
                self.val.append(delta)
        if phase == 'gap' and self.phase == 'train':   # the unit ends
            self.train.append(self._unit or [0.0, 0.0])
            self._unit = None
            self.gap.append([0.0, 0.0])
        self.phase, self._last = phase, now

    def snapshot(self) -> dict:
        """This rank's ledger as plain data (for ``all_gather``); the open phase is included."""
        current = self._read() if self.phase else None
        open_part = None
        if current is not None and self._last is not None:
            joules = (current[0] - self._last[0]) if None not in (current[0], self._last[0]) else 0.0
            open_part = [joules, current[1] - self._last[1]]
            if self._unit is not None:   # the part of a train unit before a validation
                open_part = [a + b for a, b in zip(open_part, self._unit)]
        return dict(ok=self.ok, phase=self.phase, startup=list(self.startup),
                    train=[list(x) for x in self.train], val=[list(x) for x in self.val],
                    gap=[list(x) for x in self.gap], open=open_part)


def merge_ledgers(snapshots: Sequence[dict]) -> dict:
    """Sum the ranks' joules and take the slowest rank's seconds, phase by phase."""
    def merge(items):
        items = [i for i in items if i is not None]
        return [sum(i[0] for i in items), max(i[1] for i in items)] if items else None

    out = dict(ok=all(s['ok'] for s in snapshots), phase=snapshots[0]['phase'],
               startup=merge([s['startup'] for s in snapshots]),
               open=merge([s['open'] for s in snapshots]))
    for key in ('train', 'val', 'gap'):
        n = min(len(s[key]) for s in snapshots)
        out[key] = [merge([s[key][i] for s in snapshots]) for i in range(n)]
    return out


def _mean(items: List[List[float]], k: int) -> float:
    return sum(i[k] for i in items) / len(items)


def forecast_run(ledger: dict, *, units_total: int, first_unit: int, val_after: Sequence[int],
                 val_train_ratio: Optional[float], pue: float, carbon_intensity: float,
                 earlier: Optional[dict] = None, use_units: Optional[int] = None,
                 unit: str = 'epoch', open_gap_done: bool = False) -> Optional[dict]:
    """The whole run's predicted cost from a merged ledger (:func:`merge_ledgers`).

    Args:
        units_total: epochs of the whole run (iteration loops: ``max_iters / interval``, maybe
            fractional: a last partial interval costs its share).
        first_unit: units already done when this attempt started (resume), 0 for a fresh run.
        val_after: the units (1-based) after which a validation runs.
        val_train_ratio: validation samples / train samples per unit (for the estimate of a
            validation before one was measured), or ``None`` if unknown.
        earlier: ``energy_j_it``, ``seconds`` of the run's earlier attempts (their records).
        use_units: extrapolate from the first ``use_units`` train units of this attempt (default:
            all measured so far).
        open_gap_done: the open gap (after the last train unit) is complete, e.g. its checkpoint
            and validation ran: it counts as a measured gap and not as a remaining one.

    Returns ``None`` before the first train unit of this attempt ended (or if a source failed).
    """
    if not ledger['ok'] or not ledger['train']:
        return None
    train = ledger['train'][:use_units] if use_units else ledger['train']
    done = first_unit + len(ledger['train'])
    earlier = earlier or {}
    spent_j = earlier.get('energy_j_it', 0.0) + ledger['startup'][0]
    spent_s = earlier.get('seconds', 0.0) + ledger['startup'][1]
    for key in ('train', 'val', 'gap'):
        spent_j += sum(i[0] for i in ledger[key])
        spent_s += sum(i[1] for i in ledger[key])
    if ledger['open'] is not None:
        spent_j += ledger['open'][0]
        spent_s += ledger['open'][1]

    train_left = max(units_total - done, 0)
    vals_in_attempt = sum(1 for v in val_after if first_unit < v <= math.ceil(units_total))
    val_left = max(vals_in_attempt - len(ledger['val']), 0)
    open_gap = ledger['phase'] == 'gap' and ledger['gap']
    closed_gaps = ledger['gap'][:-1] if open_gap and not open_gap_done else ledger['gap']
    if open_gap and open_gap_done and ledger['open'] is not None:
        closed_gaps = closed_gaps[:-1] + [[a + b for a, b in zip(closed_gaps[-1],
                                                                  ledger['open'])]]
    gap_left = max(math.ceil(units_total) - first_unit - len(closed_gaps), 0)
    per = dict(train_j=_mean(train, 0), train_s=_mean(train, 1))
    notes = [f'start-up of this attempt ({ledger["startup"][1]:.1f} s) counted once, not '
             f'extrapolated; train: mean of {len(train)} measured {unit}(s)']
    if ledger['val']:
        per.update(val_j=_mean(ledger['val'], 0), val_s=_mean(ledger['val'], 1))
        notes.append(f'validation: mean of {len(ledger["val"])} measured')
    elif vals_in_attempt and val_train_ratio is not None:
        frac = val_train_ratio * VAL_FORWARD_FRACTION
        per.update(val_j=per['train_j'] * frac, val_s=per['train_s'] * frac)
        notes.append(f'validation: ESTIMATED as a train {unit} x {val_train_ratio:.3g} '
                     f'(val/train samples) x 1/3 (forward only), none measured yet')
    elif vals_in_attempt:
        per.update(val_j=0.0, val_s=0.0)
        notes.append('validation: NOT INCLUDED (none measured yet, dataset sizes unknown)')
    else:
        per.update(val_j=0.0, val_s=0.0)
        notes.append('no validation planned')
    if closed_gaps:
        per.update(gap_j=_mean(closed_gaps, 0), gap_s=_mean(closed_gaps, 1))
        notes.append(f'gap after each {unit} (checkpoint, logging): mean of {len(closed_gaps)}')
    else:
        per.update(gap_j=0.0, gap_s=0.0)
        notes.append(f'gap after each {unit}: none complete yet, counted as 0')
    total_j = (spent_j + train_left * per['train_j'] + val_left * per['val_j']
               + gap_left * per['gap_j'])
    total_s = (spent_s + train_left * per['train_s'] + val_left * per['val_s']
               + gap_left * per['gap_s'])
    kwh_it = total_j / JOULES_PER_KWH
    spent_kwh = pue * spent_j / JOULES_PER_KWH
    return dict(
        unit=unit, after_units=done, units_total=units_total, energy_j_it=total_j,
        energy_kwh_it=kwh_it, energy_kwh=pue * kwh_it, co2_g=pue * kwh_it * carbon_intensity,
        seconds=total_s, pue=pue, carbon_intensity=carbon_intensity,
        spent=dict(energy_j_it=spent_j, energy_kwh=spent_kwh, co2_g=spent_kwh * carbon_intensity,
                   seconds=spent_s),
        per_unit=per, startup=dict(energy_j_it=ledger['startup'][0], seconds=ledger['startup'][1]),
        remaining=dict(train=train_left, val=val_left, gap=gap_left),
        next_unit=dict(energy_kwh=pue * (per['train_j'] + per['gap_j'] + (
            per['val_j'] if (done + 1) in val_after else 0.0)) / JOULES_PER_KWH),
        method='; '.join(notes))


def prediction_error(predicted: dict, actual: dict) -> Dict[str, Optional[float]]:
    """Relative errors ``(predicted - actual) / actual`` of energy (kWh), g CO2 and seconds."""
    out = {}
    for key in ('energy_kwh', 'co2_g', 'seconds'):
        p, a = predicted.get(key), actual.get(key)
        out[key] = None if p is None or not a else (p - a) / a
    return out
