# Fixed-τ baseline of configs/ssd_kd_stochastic_70e.py (the paper's 70-epoch schedule).
#   python tools/train.py configs/ssd_kd_fixed_70e.py --cfg-options temperature.tau=8
_base_ = './ssd_kd_stochastic_70e.py'

temperature = dict(_delete_=True, type='ConstantTemperature', tau=4.0)
