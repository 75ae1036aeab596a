# CIFAR-10: as kd_hkd_stochastic_resnet18_mobilenetv2.py (ResNet-18 teacher -> MobileNetV2
# student, tau ~ U[2, 20] per batch) with the altered Ba & Caruana logit matching (CMC) loss.
_base_ = ['./kd_hkd_stochastic_resnet18_mobilenetv2.py']

model = dict(kd_loss=dict(_delete_=True, type='CMCLoss', alpha=0.95))
work_dir = 'work_dirs/cifar10/kd_cmc_stochastic_resnet18_mobilenetv2'
