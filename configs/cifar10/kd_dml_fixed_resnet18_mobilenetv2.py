# CIFAR-10: as kd_dml_stochastic_resnet18_mobilenetv2.py with a fixed
# temperature (one point of the paper's tau grid); change it with
# --cfg-options temperature.tau=8, or run the whole grid with
# python tools/tune_temperature.py configs/cifar10/kd_dml_fixed_resnet18_mobilenetv2.py
_base_ = ['./kd_dml_stochastic_resnet18_mobilenetv2.py']

temperature = dict(_delete_=True, type='ConstantTemperature', tau=4.0)
work_dir = 'work_dirs/cifar10/kd_dml_fixed_resnet18_mobilenetv2'
