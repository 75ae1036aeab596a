# CIFAR100: the WRN-40-2 teacher of the data-free KD configs (cross-entropy on real data, the
# classification configs' 100-epoch schedule). Output: work_dirs/dfkd/cifar100_wrn40_2_teacher/epoch_100.pth
_base_ = ['../_base_/cls_cifar100.py', '../_base_/cls_schedule_100e.py', '../_base_/cls_runtime.py']

# CIFAR-100 statistics (the classification configs'); the data-free configs use the same
data_preprocessor = dict(type='ImgDataPreprocessor', mean=(129.304, 124.07, 112.434),
                         std=(68.17, 65.392, 70.418))
model = dict(type='PlainClassifier', data_preprocessor=data_preprocessor,
             backbone=dict(type='WideResNet', depth=40, widen_factor=2, num_classes=100))
work_dir = 'work_dirs/dfkd/cifar100_wrn40_2_teacher'
