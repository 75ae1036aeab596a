# KD runtime: the shared stochastic temperature τ ~ U[2, 20] drawn per batch (Rafat et al. 2023)
# plus the energy meter. Fixed-τ configs override `temperature` with ConstantTemperature.
_base_ = ['./cls_runtime.py']

temperature = dict(type='UniformTemperature', low=2.0, high=20.0)
custom_hooks = [dict(type='TemperatureHook'), dict(type='CarbonFootprintHook')]
