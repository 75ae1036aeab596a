"""mmkd-green: energy- and carbon-aware knowledge distillation for the OpenMMLab stack."""
from setuptools import find_packages, setup

setup(
    name='mmkd_green',
    version='0.1.0',
    description='Stochastic-temperature knowledge distillation with energy, carbon and FLOPs '
                'metering for MMDetection / MMEngine',
    packages=find_packages(include=['mmkd_green', 'mmkd_green.*']),
    python_requires='>=3.9',
    install_requires=[],  # pinned stack: requirements/runtime.txt, installed by .ci/install.sh
    license='Apache-2.0',
)
