# Fixed-τ twin of ssd_kd_stochastic_bccd.py: --cfg-options temperature.tau=8
_base_ = './ssd_kd_stochastic_bccd.py'

temperature = dict(_delete_=True, type='ConstantTemperature', tau=4.0)
