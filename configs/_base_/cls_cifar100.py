# CIFAR-100 (fine labels), official python-pickle layout under data_root (cifar-100-python/):
# the CIFAR-10 base (pipelines, loaders, metric) with the CIFAR-100 reader and folder.
_base_ = ['./cls_cifar10.py']

dataset_type = 'CIFAR100Pickle'
data_root = 'data/cifar100'
data_preprocessor = dict(mean=(129.304, 124.07, 112.434), std=(68.17, 65.392, 70.418))

train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader
