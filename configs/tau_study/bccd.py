# τ study for detection on real images (issue 13): SSD KD on BCCD (364 blood-cell microscope
# images, VOC layout, 3 classes), the toy-sized teacher/student of configs/bccd/ (128 px),
# fixed τ ∈ {1, 2, 4, 8, 16, 20} vs τ ~ U[2, 20], 2 seeds, VOC07 11-point mAP (a fraction, 0..1):
#   python tools/tune_temperature.py --profile bccd            # <= 45 min on 2 CPU cores
# * splits: BCCD's own. Every run (teacher included) trains on train.txt (205 images), τ is
#   chosen on val.txt (87), and the test score is on test.txt (72), never used for the choice.
# * teacher: half-width ResNet-18 SSD, 20 epochs (its config's schedule), trained once.
# * student: SSDLite MobileNetV2 x0.5, 20 epochs per run, HKD on the classification logits of
#   the positive and hard-negative anchors (configs/bccd/ssd_kd_stochastic_bccd.py).
data_root = None   # the configs' default: $MMKD_BCCD_ROOT or ../shared/data/BCCD/
holdout = None     # BCCD ships a validation split
metric = 'mAP'
seeds = [0, 1]
taus = [1, 2, 4, 8, 16, 20]
stochastic = dict(uniform=dict(type='UniformTemperature', low=2.0, high=20.0))
common_cfg_options = {
    'train_dataloader.dataset.ann_file': 'ImageSets/Main/train.txt',
    'val_dataloader.dataset.ann_file': 'ImageSets/Main/val.txt',
    'test_dataloader.dataset.ann_file': 'ImageSets/Main/test.txt',
}
teacher = dict(config='../bccd/ssd_teacher_bccd.py', seed=0)
arms = dict(hkd=dict(config='../bccd/ssd_kd_fixed_bccd.py'))
