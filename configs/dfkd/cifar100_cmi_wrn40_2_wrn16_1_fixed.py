# CMI, CIFAR100 (CIFAR-10 settings reused: upstream publishes no CIFAR-100 settings; only
# num_classes and the normalisation differ): the fixed-τ baseline, τ = 20 (the CMI repo's --T 20).
_base_ = ['./cifar100_cmi_wrn40_2_wrn16_1_stochastic.py']

temperature = dict(_delete_=True, type='ConstantTemperature', tau=20.0)
work_dir = 'work_dirs/dfkd/cifar100_cmi_wrn40_2_wrn16_1_fixed'
