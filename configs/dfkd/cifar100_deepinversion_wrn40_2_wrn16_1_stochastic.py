# DeepInversion, CIFAR100 (CIFAR-10 settings reused: upstream publishes no CIFAR-100 settings; only
# num_classes and the normalisation differ): WRN-40-2 -> WRN-16-1 from synthetic images only, stochastic τ ~ U[2, 20] per batch.
# Teacher: python tools/train.py configs/dfkd/cifar100_wrn40_2_teacher.py (or set model.teacher_ckpt).
_base_ = ['../_base_/cls_cifar100.py', './_base_/deepinversion_wrn40_2_wrn16_1.py', './_base_/dfkd_runtime.py']
# the distiller derives its preprocessor from the synthesizer's mean/std: no top-level one from
# the CIFAR base (its per-batch augmentation is for real-image training)
data_preprocessor = None

num_classes = 100
model = dict(
    teacher=dict(num_classes=num_classes), student=dict(num_classes=num_classes),
    teacher_ckpt='work_dirs/dfkd/cifar100_wrn40_2_teacher/epoch_100.pth',
    synthesizer=dict(num_classes=num_classes, mean=(0.507075, 0.486549, 0.440918),
                     std=(0.267333, 0.256439, 0.276149)))
# the Runner needs a train_dataloader: data-free KD only reads its (KD) batch size
train_dataloader = dict(_delete_=True, batch_size=256)
temperature = dict(type='UniformTemperature', low=2.0, high=20.0)
work_dir = 'work_dirs/dfkd/cifar100_deepinversion_wrn40_2_wrn16_1_stochastic'
