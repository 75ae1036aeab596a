# The student alone on the paper's 70-epoch schedule (baseline of configs/ssd_kd_*_70e.py).
#   python tools/train.py configs/ssdlite_mobilenetv2_voc0712_70e.py
_base_ = './ssdlite_mobilenetv2_voc0712.py'

max_epochs = 70
train_dataloader = dict(dataset=dict(times=1))
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='CosineAnnealingLR', begin=0, T_max=max_epochs, end=max_epochs, by_epoch=True,
         eta_min=0)
]
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=2))
