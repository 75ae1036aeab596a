# CIFAR-10: quantization-aware training of the MobileNetV2 student (paper Table 8 baseline),
# torch.ao FX QAT, metered like every other run. From scratch by default; to fine-tune a trained
# float student add
#   --cfg-options model.float_ckpt=work_dirs/cifar10/mobilenetv2_student/epoch_100.pth
# Train + int8 conversion + int8 evaluation:
#   python tools/qat_student.py configs/cifar10/qat_mobilenetv2_student.py
_base_ = ['../_base_/cls_cifar10.py', '../_base_/cls_schedule_100e.py',
          '../_base_/cls_runtime.py']

# FX quantization traces the network in the default (NCHW) memory format
data_preprocessor = dict(channels_last=False)
model = dict(type='QATClassifier', backbone=dict(type='CifarMobileNetV2', num_classes=10),
             backend='x86', float_ckpt=None, input_size=(32, 32))
work_dir = 'work_dirs/cifar10/qat_mobilenetv2_student'
