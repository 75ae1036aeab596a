# The paper's schedule (Rafat et al., 2023: one GPU, 70 epochs): configs/ssd_kd_stochastic.py over
# VOC07+12 trainval without the x10 repeat, 70 epochs (70 passes; the 24-epoch config makes ~240),
# cosine lr, the same single-GPU lr (1.875e-3 at batch 24, auto-scaled for other totals).
#   python tools/train.py configs/ssd_kd_stochastic_70e.py
_base_ = './ssd_kd_stochastic.py'

max_epochs = 70
train_dataloader = dict(dataset=dict(times=1))
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', begin=0, T_max=max_epochs, end=max_epochs, by_epoch=True,
         eta_min=0)
]
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=2))
