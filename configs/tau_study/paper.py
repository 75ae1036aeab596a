# τ study, the paper's setting (Rafat et al. 2023, Table 4), for a GPU: ResNet-18 -> MobileNetV2
# on full CIFAR-10, 100 epochs, the 20-run grid τ = 1..20 against stochastic τ, 3 seeds:
#   python tools/tune_temperature.py --profile paper --data-root data/cifar10
# (about 60 trainings of 100 epochs: days on one GPU; add --amp for AMP, channels_last is on).
data_root = 'data/cifar10'
holdout = dict(fraction=0.1, seed=0)
metric = 'accuracy'
seeds = [0, 1, 2]
taus = list(range(1, 21))
stochastic = dict(
    uniform=dict(type='UniformTemperature', low=2.0, high=20.0),
    integer=dict(type='UniformTemperature', low=2, high=20, discrete=True),
    per_sample=dict(type='PerSampleUniformTemperature', low=2.0, high=20.0))
common_cfg_options = {'train_cfg.val_interval': 10}
teacher = dict(config='../cifar10/resnet18_teacher.py', epochs=100, seed=0)
arms = dict(hkd=dict(config='../cifar10/kd_hkd_fixed_resnet18_mobilenetv2.py', epochs=100))
