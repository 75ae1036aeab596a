# CIFAR-10, official python-pickle layout under data_root (cifar-10-batches-py/).
dataset_type = 'CIFAR10Pickle'
data_root = 'data/cifar10'

# the paper's augmentation: 4-pixel-pad random crop, horizontal flip, 15 degree rotation
train_pipeline = [
    dict(type='ClsRandomCrop', size=32, padding=4),
    dict(type='ClsRandomFlip', prob=0.5),
    dict(type='ClsRandomRotate', degrees=15),
    dict(type='PackClsInputs'),
]
test_pipeline = [dict(type='PackClsInputs')]

train_dataloader = dict(
    batch_size=128, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, test_mode=False,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=256, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='ClassificationMetric')
test_evaluator = val_evaluator
