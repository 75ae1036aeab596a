# CIFAR-100: as kd_hkd_stochastic_resnet18_mobilenetv2.py (ResNet-18 teacher -> MobileNetV2
# student, tau ~ U[2, 20] per batch) with the altered deep mutual learning (DML) loss.
_base_ = ['./kd_hkd_stochastic_resnet18_mobilenetv2.py']

model = dict(kd_loss=dict(_delete_=True, type='DMLLoss', ce_weight=1.0, kl_weight=1.0))
work_dir = 'work_dirs/cifar100/kd_dml_stochastic_resnet18_mobilenetv2'
