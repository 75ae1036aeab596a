# CIFAR100: the WRN-40-2 teacher of the data-free KD configs (cross-entropy on real data, the
# classification configs' 100-epoch schedule). Output: work_dirs/dfkd/cifar100_wrn40_2_teacher/epoch_100.pth
_base_ = ['../_base_/cls_cifar100.py', '../_base_/cls_schedule_100e.py', '../_base_/cls_runtime.py']

# CIFAR-100 statistics and the per-batch augmentation come from the base (`data_preprocessor`);
# the data-free configs normalise with the same statistics
model = dict(type='PlainClassifier',
             backbone=dict(type='WideResNet', depth=40, widen_factor=2, num_classes=100))
work_dir = 'work_dirs/dfkd/cifar100_wrn40_2_teacher'
