"""Classification datasets (official layouts) and the paper's augmentation transforms."""
from .cifar import CIFAR10Pickle, CIFAR100Pickle, load_cifar_batch
from .tiny_imagenet import TinyImageNet
from .transforms import ClsRandomCrop, ClsRandomFlip, ClsRandomRotate, PackClsInputs

__all__ = ['CIFAR10Pickle', 'CIFAR100Pickle', 'TinyImageNet', 'load_cifar_batch',
           'ClsRandomCrop', 'ClsRandomFlip', 'ClsRandomRotate', 'PackClsInputs']
