# DeepInversion, CIFAR10: WRN-40-2 -> WRN-16-1 from synthetic images only, stochastic τ ~ U[2, 20] per batch.
# Teacher: python tools/train.py configs/dfkd/cifar10_wrn40_2_teacher.py (or set model.teacher_ckpt).
_base_ = ['../_base_/cls_cifar10.py', './_base_/deepinversion_wrn40_2_wrn16_1.py', './_base_/dfkd_runtime.py']
# the distiller derives its preprocessor from the synthesizer's mean/std: no top-level one from
# the CIFAR base (its per-batch augmentation is for real-image training)
data_preprocessor = None

num_classes = 10
model = dict(
    teacher=dict(num_classes=num_classes), student=dict(num_classes=num_classes),
    teacher_ckpt='work_dirs/dfkd/cifar10_wrn40_2_teacher/epoch_100.pth',
    synthesizer=dict(num_classes=num_classes, mean=(0.4914, 0.4822, 0.4465), std=(0.2023, 0.1994, 0.2010)))
# the Runner needs a train_dataloader: data-free KD only reads its (KD) batch size
train_dataloader = dict(_delete_=True, batch_size=256)
temperature = dict(type='UniformTemperature', low=2.0, high=20.0)
work_dir = 'work_dirs/dfkd/cifar10_deepinversion_wrn40_2_wrn16_1_stochastic'
