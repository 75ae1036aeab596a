# The paper's schedule: 100 epochs, lr 0.1, x0.2 at epochs 40 / 60 / 80.
# Optimizer: SGD with momentum 0.9 and weight decay 5e-4 (the paper's text names Adam at lr 0.1,
# which diverges for these networks; its code base, like most CIFAR KD work, uses SGD). For Adam:
# --cfg-options optim_wrapper.optimizer.type=Adam optim_wrapper.optimizer.lr=1e-3
#   optim_wrapper.optimizer.momentum=None  (or edit optim_wrapper in a derived config)
optim_wrapper = dict(type='OptimWrapper',
                     optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=5e-4,
                                    nesterov=False))
param_scheduler = [dict(type='MultiStepLR', by_epoch=True, milestones=[40, 60, 80], gamma=0.2)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
auto_scale_lr = dict(enable=False, base_batch_size=128)
