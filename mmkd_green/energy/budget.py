"""A carbon budget for one run: ``budget_kwh`` (kWh after PUE) and/or ``budget_co2_g``.

After every train epoch (iteration loops: every interval) the run stops when

* its predicted total (:func:`.prediction.forecast_run`, once ``predict_after`` units are measured)
  exceeds a budget, or
* its running total plus the expected cost of the next unit would exceed it,

at the end of the current epoch: the loop's ``max_epochs`` (``max_iters``) is set to the current
one, so mmengine's ``CheckpointHook(save_last=True)`` (the default) saves the checkpoint and the
validation of that epoch runs as at any run's end. The run is resumable with ``--resume`` and a
higher budget: the budget covers the whole run, every attempt's energy counted. After the last
epoch (nothing left to stop) a spend over the budget is reported (:meth:`CarbonBudget.overspent`).
"""
import math
from typing import Optional


def _check(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise ValueError(f'CarbonFootprintHook: `{name}` must be a number > 0 (or None for no '
                         f'budget), got {value!r}')
    return float(value)


class CarbonBudget:
    """``budget_kwh`` (with PUE) and ``budget_co2_g`` (g CO2-eq); ``None`` = no limit."""

    def __init__(self, budget_kwh: Optional[float] = None, budget_co2_g: Optional[float] = None):
        self.kwh = _check('budget_kwh', budget_kwh)
        self.co2_g = _check('budget_co2_g', budget_co2_g)

    @property
    def active(self) -> bool:
        return self.kwh is not None or self.co2_g is not None

    def describe(self) -> dict:
        return dict(budget_kwh=self.kwh, budget_co2_g=self.co2_g)

    def _limits(self):
        if self.kwh is not None:
            yield 'energy_kwh', self.kwh, 'kWh'
        if self.co2_g is not None:
            yield 'co2_g', self.co2_g, 'g CO2'

    def exhausted(self, spent: dict, last_unit: dict) -> Optional[str]:
        """Why a resumed run that already spent ``spent`` (its last epoch: ``last_unit``) may not
        train one more epoch, or ``None``."""
        for key, limit, label in self._limits():
            if spent[key] + last_unit[key] > limit:
                return (f'earlier attempts spent {spent[key]:.4g} {label}; one more epoch like '
                        f'the last (~{last_unit[key]:.4g} {label}) would exceed the budget '
                        f'{limit:.4g} {label}')
        return None

    def overspent(self, spent: dict) -> Optional[str]:
        """After the last epoch (nothing left to stop): how far ``spent`` exceeds a budget, or
        ``None``. The ratio is ``spent / budget``."""
        for key, limit, label in self._limits():
            if spent[key] > limit:
                return (f'the run spent {spent[key]:.4g} {label}, {spent[key] / limit:.3g}x the '
                        f'budget {limit:.4g} {label}, by the end of its last epoch, with nothing '
                        f'left to stop: a budget is checked at the end of each epoch, so a '
                        f'run\'s first (or only) epoch always runs whole (to check sooner, use '
                        f'an iteration-based loop with a small `interval`)')
        return None

    def verdict(self, forecast: dict, predicted: bool) -> Optional[str]:
        """The reason to stop now, or ``None``.

        ``forecast``: :func:`.prediction.forecast_run` output; ``predicted``: whether its total
        counts as the prediction (``predict_after`` units measured).
        """
        spent, nxt = forecast['spent'], forecast['next_unit']
        intensity = forecast['carbon_intensity']
        for key, limit, label in self._limits():
            if predicted and forecast[key] > limit:
                return (f'predicted total {forecast[key]:.4g} {label} after '
                        f'{forecast["after_units"]} {forecast["unit"]}(s) exceeds the budget '
                        f'{limit:.4g} {label}')
            step = nxt['energy_kwh'] * (intensity if key == 'co2_g' else 1.0)
            if spent[key] + step > limit:
                return (f'running total {spent[key]:.4g} {label} + the next {forecast["unit"]} '
                        f'(~{step:.4g} {label}) would exceed the budget {limit:.4g} {label}')
        return None


def stop_after_current_unit(runner, by_epoch: bool, before_any: bool = False) -> int:
    """End the train loop after the current epoch (iteration) as if it were the last one.

    Called from ``after_train_epoch`` (``after_train_iter``) before ``CheckpointHook`` runs, so its
    ``save_last`` sees the last epoch and saves. ``before_any``: from ``before_train``, train
    nothing. Returns the new last epoch (iteration).
    """
    loop = runner.train_loop
    if by_epoch:
        loop._max_epochs = runner.epoch + (0 if before_any else 1)
        return loop._max_epochs
    loop._max_iters = runner.iter + (0 if before_any else 1)
    return loop._max_iters


def saves_last_checkpoint(runner) -> bool:
    """Whether a ``CheckpointHook`` with ``save_last=True`` will save the stopped epoch."""
    return any(type(h).__name__ == 'CheckpointHook' and getattr(h, 'save_last', False)
               for h in runner.hooks)
