# CIFAR-10: as kd_hkd_stochastic_resnet18_shufflenetv2.py with a fixed
# temperature (--cfg-options temperature.tau=8; the whole grid: tools/tune_temperature.py).
_base_ = ['./kd_hkd_stochastic_resnet18_shufflenetv2.py']

temperature = dict(_delete_=True, type='ConstantTemperature', tau=4.0)
work_dir = 'work_dirs/cifar10/kd_hkd_fixed_resnet18_shufflenetv2'
