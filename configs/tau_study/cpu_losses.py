# τ study, CPU profile for the other losses: CMC (probability and logit forms) and DML with
# τ in {2, 4, 8, 16} and the stochastic run, 2 seeds, on the cpu-2epoch profile's data, teacher and
# student (sized for <= 60 min on a 2-core CPU):
#   python tools/tune_temperature.py --profile cpu-losses
_base_ = ['./cpu_2epoch.py']
seeds = [0, 1]
taus = [2, 4, 8, 16]
stochastic = dict(_delete_=True, uniform=dict(type='UniformTemperature', low=2.0, high=20.0))
student_cfg_options = {'model.student.widen_factor': 0.25, 'model.student.last_channels': 256,
            'model.teacher.base_channels': 16}
arms = dict(
    _delete_=True,
    cmc_prob=dict(config='../cifar10/kd_cmc_fixed_resnet18_mobilenetv2.py', epochs=2,
                  cfg_options=dict(student_cfg_options, **{'model.kd_loss.space': 'prob'})),
    cmc_logit=dict(config='../cifar10/kd_cmc_fixed_resnet18_mobilenetv2.py', epochs=2,
                   cfg_options=dict(student_cfg_options, **{'model.kd_loss.space': 'logit'})),
    dml=dict(config='../cifar10/kd_dml_fixed_resnet18_mobilenetv2.py', epochs=2,
             cfg_options=student_cfg_options))
