"""Where the current τ lives during a run: mmengine's MessageHub.

:class:`TemperatureHook` publishes τ before every train iteration; losses and pipelines read it
with :func:`get_current_temperature`. The value is a float, or a float32 tensor of shape ``(B,)``
for per-sample samplers.
"""
from mmengine.logging import MessageHub

from ..utils.hub_keys import TAU_INFO_KEY, TAU_SCALAR_KEY


def publish_temperature(tau, message_hub=None) -> None:
    hub = message_hub or MessageHub.get_current_instance()
    hub.update_info(TAU_INFO_KEY, tau, resumed=False)
    value = float(tau.float().mean()) if hasattr(tau, 'float') else float(tau)
    hub.update_scalar(TAU_SCALAR_KEY, value)


def get_current_temperature(message_hub=None):
    """The τ published for the current iteration; raises with the fix when there is none."""
    hub = message_hub or MessageHub.get_current_instance()
    tau = hub.get_info(TAU_INFO_KEY)
    if tau is None:
        raise RuntimeError(
            'No KD temperature has been published for this iteration. Add the shared sampler to '
            'the config: `temperature = dict(type="UniformTemperature", low=2.0, high=20.0)` and '
            '`custom_hooks = [dict(type="TemperatureHook")]` (the kd runtime base config has both), '
            'or give the loss a fixed `tau=`.')
    return tau
