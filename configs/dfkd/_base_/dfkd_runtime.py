# Data-free KD runtime: the data-free loop on mmengine's Runner, the shared τ sampler and the
# energy meter (both hooks apply unchanged), SGD + per-epoch cosine as upstream CMI's datafree_kd.py.
# Real CIFAR test data (CIFAR*Pickle, official pickle layout) is used for validation only.
custom_imports = dict(imports=['mmkd_green'], allow_failed_imports=False)

temperature = dict(type='UniformTemperature', low=2.0, high=20.0)
custom_hooks = [dict(type='TemperatureHook'), dict(type='CarbonFootprintHook')]

train_cfg = dict(type='DataFreeTrainLoop', max_epochs=200, ep_steps=400, kd_steps=400,
                 val_interval=1, grid_interval=1, progress=False)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=200, by_epoch=True, begin=0, end=200)]

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'))

# cudnn_benchmark: synthesis and KD batches have fixed shapes (CIFAR 32x32, fixed batch sizes),
# so cuDNN's autotuner picks each convolution's fastest kernel once and reuses it (no effect on CPU)
env_cfg = dict(cudnn_benchmark=True, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
randomness = dict(seed=0, deterministic=False)
visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
