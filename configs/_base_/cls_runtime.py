# Runtime for classification runs (plain mmengine: no default_scope needed).
custom_imports = dict(imports=['mmkd_green'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=10, max_keep_ckpts=2, save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'))

# baselines: the energy / carbon meter only (KD configs add the TemperatureHook)
custom_hooks = [dict(type='CarbonFootprintHook')]

# cudnn_benchmark: every config on this runtime trains on fixed-size images (CIFAR 32x32,
# TinyImageNet 64x64), so cuDNN's autotuner picks each convolution's fastest kernel once per
# shape and reuses it (no effect on CPU)
env_cfg = dict(cudnn_benchmark=True, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
randomness = dict(seed=0, deterministic=False)
visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True)
log_level = 'INFO'
load_from = None
resume = False
