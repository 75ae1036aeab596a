# CIFAR-10: ResNet-18 teacher -> ShuffleNetV2 student (the paper's second
# student), HKD, stochastic temperature tau ~ U[2, 20] drawn per batch. Other losses: swap kd_loss
# as in the MobileNetV2 configs. Train the teacher first:
#   python tools/train.py configs/cifar10/resnet18_teacher.py
_base_ = ['./kd_hkd_stochastic_resnet18_mobilenetv2.py']

model = dict(student=dict(_delete_=True, type='CifarShuffleNetV2', num_classes=10))
work_dir = 'work_dirs/cifar10/kd_hkd_stochastic_resnet18_shufflenetv2'
