# DeepInversion (Yin et al. 2020), WRN-40-2 teacher -> WRN-16-1 student, the CMI repo's settings
# (scripts/deepinv/deepinv_cifar10_wrn402_wrn161.sh): batch 256, 1000 pixel steps, lr 0.1, bn 10,
# oh 1, adv 1 (adaptive JS term), tv 1e-3, 400 KD steps per epoch, 200 epochs, SGD lr 0.1.
num_classes = 10
model = dict(
    type='DataFreeDistiller',
    teacher=dict(type='WideResNet', depth=40, widen_factor=2, num_classes=num_classes),
    student=dict(type='WideResNet', depth=16, widen_factor=1, num_classes=num_classes),
    teacher_ckpt='work_dirs/dfkd/cifar10_wrn40_2_teacher/epoch_100.pth',
    kd_loss=dict(type='HKDLoss', alpha=1.0),   # τ² KL(p_t^τ ‖ p_s^τ): upstream's KLDiv(T=τ)
    synthesizer=dict(
        type='DeepInversionSynthesizer', num_classes=num_classes, img_size=(3, 32, 32),
        mean=(0.4914, 0.4822, 0.4465), std=(0.2023, 0.1994, 0.2010),
        synthesis_batch_size=256, iterations=1000, lr=0.1,
        bn=10.0, oh=1.0, adv=1.0, tv=1e-3, l2=0.0, bank_size=None))
