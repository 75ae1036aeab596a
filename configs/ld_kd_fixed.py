# configs/ld_kd_stochastic.py with mmdet's fixed T = 10 through the same wrapper and meter (the
# fair fixed-τ baseline: only τ differs). Other values: --cfg-options temperature.tau=4
_base_ = './ld_kd_stochastic.py'

temperature = dict(_delete_=True, type='ConstantTemperature', tau=10.0)
