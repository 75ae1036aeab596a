# Fixed-temperature baseline of configs/ssd_kd_stochastic.py (identical except tau). A tau grid:
#   for t in 1 2 4 8 16; do python tools/train.py configs/ssd_kd_fixed.py \
#       --cfg-options temperature.tau=$t --work-dir work_dirs/ssd_kd_fixed_tau$t; done
_base_ = './ssd_kd_stochastic.py'

temperature = dict(_delete_=True, type='ConstantTemperature', tau=4.0)
