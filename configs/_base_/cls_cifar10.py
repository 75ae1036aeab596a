# CIFAR-10, official python-pickle layout under data_root (cifar-10-batches-py/).
dataset_type = 'CIFAR10Pickle'
data_root = 'data/cifar10'

# The paper's augmentation (4-pixel-pad random crop, horizontal flip, +-15 degree rotation) runs
# per batch in the data preprocessor (one kernel per batch, drawn from seed + iteration; the same
# pixels as the per-sample ClsRandomCrop/ClsRandomFlip/ClsRandomRotate for the same draws), and
# inputs + networks use channels_last where it is safe (NHWC kernels: ~1.75x faster on an AVX-512
# CPU, faster on GPU); 'auto' falls back to NCHW on AVX2-only CPUs, where torch 2.14's oneDNN
# channels_last 1x1 stride-2 weight gradient can hang (README "CPUs with AVX2 only"). True / False
# force a layout.
# The Runner hands `data_preprocessor` to every model of a config inheriting this file.
# Per-sample alternative: train_pipeline = [ClsRandomCrop(size=32, padding=4), ClsRandomFlip(0.5),
# ClsRandomRotate(15), PackClsInputs()] with data_preprocessor.batch_augment=None.
data_preprocessor = dict(type='ClsDataPreprocessor',
                         mean=(125.307, 122.961, 113.8575), std=(51.5865, 50.847, 51.255),
                         batch_augment=dict(padding=4, flip_prob=0.5, degrees=15.0),
                         channels_last='auto')
train_pipeline = [dict(type='PackClsInputs')]
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
