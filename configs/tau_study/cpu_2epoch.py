# τ study, the earlier CPU profile (HKD on real CIFAR-10, 2-epoch students, 3 seeds, 10 τ): the
# one behind results/tau_study_cpu_2epoch (README, "The τ study"); kept to reproduce it. 80 min on a
# 2-core CPU. Its students are too short-trained and its seeds too few to separate τ values
# (issue 21); the default cpu profile (cpu.py) is the one sized for that.
#   python tools/tune_temperature.py --profile cpu-2epoch
# * data: the training files under data_root; 10 % of them (class-stratified, fixed seed) are the
#   validation split that picks τ; the test split (test_batch) is used only for the final numbers.
# * teacher: ResNet-18 at width 16 (base_channels), trained once, 8 epochs.
# * student: MobileNetV2 x0.25 (last layer 256 channels), 2 epochs per run, batch 64, SGD
#   lr 0.05 (the paper's 0.1 at batch 128, linearly scaled) with a cosine schedule to 0.
#   Narrow networks and a short schedule keep 40 runs inside the budget; the student still learns
#   enough (~50 % alone) for τ to matter (see the README for what this scale can and cannot show).
data_root = '../shared/data/cifar10'
holdout = dict(fraction=0.1, seed=0)
metric = 'accuracy'
seeds = [0, 1, 2]
taus = [1, 2, 3, 4, 6, 8, 10, 13, 16, 20]
stochastic = dict(
    uniform=dict(type='UniformTemperature', low=2.0, high=20.0),
    integer=dict(type='UniformTemperature', low=2, high=20, discrete=True),
    per_sample=dict(type='PerSampleUniformTemperature', low=2.0, high=20.0))

common_cfg_options = {
    'train_dataloader.batch_size': 64,
    'train_dataloader.num_workers': 0,
    'train_dataloader.persistent_workers': False,
    'test_dataloader.num_workers': 0,
    'test_dataloader.persistent_workers': False,
    'test_dataloader.batch_size': 500,
    'optim_wrapper.optimizer.lr': 0.05,
    'param_scheduler': [dict(type='CosineAnnealingLR', by_epoch=True, begin=0, T_max=100,
                             end=100, eta_min=0.0)],
    'train_cfg.val_interval': 1000,
    'default_hooks.logger.interval': 100,
    'default_hooks.checkpoint.interval': 1000,
}
teacher = dict(config='../cifar10/resnet18_teacher.py', epochs=8, seed=0,
               cfg_options={'model.backbone.base_channels': 16})
arms = dict(
    hkd=dict(config='../cifar10/kd_hkd_fixed_resnet18_mobilenetv2.py', epochs=2,
             cfg_options={'model.student.widen_factor': 0.25, 'model.student.last_channels': 256,
                          'model.teacher.base_channels': 16}))
