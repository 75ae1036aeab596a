# Tiny ImageNet (200 classes, 64x64), official tiny-imagenet-200/ folder under data_root;
# validation on the labelled val split (val/val_annotations.txt).
dataset_type = 'TinyImageNet'
data_root = 'data/tinyimagenet'

train_pipeline = [
    dict(type='ClsRandomCrop', size=64, padding=4),
    dict(type='ClsRandomFlip', prob=0.5),
    dict(type='ClsRandomRotate', degrees=15),
    dict(type='PackClsInputs'),
]
test_pipeline = [dict(type='PackClsInputs')]

train_dataloader = dict(
    batch_size=128, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=256, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='default_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='val', test_mode=True,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='ClassificationMetric')
test_evaluator = val_evaluator
