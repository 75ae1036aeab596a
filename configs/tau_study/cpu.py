# τ study, default CPU profile (HKD on real CIFAR-10, all 10 classes, 32x32), sized for <= 120 min
# on a 2-core CPU with the power to separate τ (issue 21): 5 seeds, 7 grid τ over 1..20, three
# stochastic samplers, 4-epoch students: 1 teacher + 5 x (7 + 3) = 50 KD runs.
#   python tools/tune_temperature.py --profile cpu
# * data: the training files under data_root; 10 % of them (class-stratified, fixed seed) are the
#   validation split that picks τ; the test split (test_batch) is used only for the final numbers.
# * teacher: ResNet-18 at width 16 (base_channels), trained once, 8 epochs on all 18,000
#   training-part images.
# * student: MobileNetV2 x0.25 (last layer 256 channels), 4 epochs per run on the first 10,000
#   images of the training part (40,000 samples per run, 1.1x the earlier profile's 2 epochs of
#   18,000), batch 64, SGD lr 0.05 (the paper's 0.1 at batch 128, linearly scaled), cosine to 0.
#   Fewer images per epoch, not fewer epochs or seeds, is how 50 runs fit: teacher-logit sharing
#   is not implemented, every run computes its own teacher forward (as users run a grid today).
# * evaluation: validation (2,000 holdout images) once, at the end; test (10,000) once.
# The earlier 3-seed, 2-epoch profile is configs/tau_study/cpu_2epoch.py (--profile cpu-2epoch);
# this one inherits its data, samplers, teacher and run options and changes seeds, τ, epochs, images.
_base_ = ['./cpu_2epoch.py']
seeds = [0, 1, 2, 3, 4]
taus = [1, 2, 4, 6, 8, 12, 20]
control_ks = [2, 3]   # the same-cost best-of-k control also uses k = len(taus) (capped at 5 seeds)
arms = dict(hkd=dict(epochs=4, cfg_options={'train_dataloader.dataset.indices': 10000}))
