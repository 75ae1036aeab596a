# CMI (Fang et al. 2021), WRN-40-2 teacher -> WRN-16-1 student, the CMI repo's CIFAR-10 settings
# (scripts/cmi/cmi_cifar10.sh): synthesis batch 256, 200 generator steps, lr_g 1e-3, adv 0.5,
# bn 1, oh 1, cr 0.8, KD batch 256, 400 KD steps per epoch, 200 epochs, SGD lr 0.1. cr_T 0.1 as
# in the issue (the repo's cmi_cifar10.sh passes 0.2, its adv_cmi script 0.1).
num_classes = 10
model = dict(
    type='DataFreeDistiller',
    teacher=dict(type='WideResNet', depth=40, widen_factor=2, num_classes=num_classes),
    student=dict(type='WideResNet', depth=16, widen_factor=1, num_classes=num_classes),
    teacher_ckpt='work_dirs/dfkd/cifar10_wrn40_2_teacher/epoch_100.pth',
    kd_loss=dict(type='HKDLoss', alpha=1.0),   # τ² KL(p_t^τ ‖ p_s^τ): upstream's KLDiv(T=τ)
    synthesizer=dict(
        type='CMISynthesizer', num_classes=num_classes, img_size=(3, 32, 32),
        mean=(0.4914, 0.4822, 0.4465), std=(0.2023, 0.1994, 0.2010),
        synthesis_batch_size=256, iterations=200, lr=1e-3,
        adv=0.5, bn=1.0, oh=1.0, cr=0.8, cr_T=0.1,
        generator=dict(type='DCGANGenerator', nz=256, ngf=64, img_size=32, nc=3),
        head_dim=256, feature_bank_size=40960, n_neg=4096, bank_size=None))
