# Tiny ImageNet: as kd_cmc_stochastic_resnet18_mobilenetv2.py with a fixed
# temperature (one point of the paper's tau grid); change it with
# --cfg-options temperature.tau=8, or run the whole grid with
# python tools/tune_temperature.py configs/tinyimagenet/kd_cmc_fixed_resnet18_mobilenetv2.py
_base_ = ['./kd_cmc_stochastic_resnet18_mobilenetv2.py']

temperature = dict(_delete_=True, type='ConstantTemperature', tau=4.0)
work_dir = 'work_dirs/tinyimagenet/kd_cmc_fixed_resnet18_mobilenetv2'
