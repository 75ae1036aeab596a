# Does bf16 autocast on CPU (--amp without CUDA: CPUAutocastOptimWrapper) hold the accuracy?
# The cpu-2epoch profile's HKD runs at τ = 8 and τ ~ U[2, 20] (fp32, arm `hkd`: the same resolved
# configs, so the cpu-2epoch profile's finished runs are reused from the cache) beside the same runs
# under bf16 autocast (arm `hkd_amp`), 3 seeds:
#   python tools/tune_temperature.py configs/tau_study/cpu_amp.py
_base_ = ['./cpu_2epoch.py']
taus = [8]
stochastic = dict(_delete_=True, uniform=dict(type='UniformTemperature', low=2.0, high=20.0))
arms = dict(
    hkd_amp=dict(config='../cifar10/kd_hkd_fixed_resnet18_mobilenetv2.py', epochs=2,
                 cfg_options={'model.student.widen_factor': 0.25,
                              'model.student.last_channels': 256,
                              'model.teacher.base_channels': 16,
                              'optim_wrapper.type': 'CPUAutocastOptimWrapper'}))
