"""The MessageHub keys our packages share during a run (the one place they are spelled).

* ``TAU_INFO_KEY`` (runtime info): the τ of the current iteration, a float or a ``(B,)`` tensor;
  written by ``TemperatureHook`` (``temperature.current.publish_temperature``), read by the KD
  losses and by ``CarbonFootprintHook`` (τ statistics per segment).
* ``TAU_SCALAR_KEY`` (log scalar): the batch mean of τ, logged every iteration and sent to the
  visualizer.
* ``EXTRA_TRAIN_FLOPS_KEY`` (runtime info): cumulative FLOPs of training work done outside the
  train iterations the FLOP counter brackets (e.g. data-free KD synthesis rounds);
  ``CarbonFootprintHook`` adds each segment's increase to its ``train_flops``.
"""
TAU_INFO_KEY = 'kd_temperature'
TAU_SCALAR_KEY = 'train/tau'
EXTRA_TRAIN_FLOPS_KEY = 'extra_train_flops'
