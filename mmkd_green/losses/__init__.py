"""Logit KD losses that read the run's shared τ (or use a fixed one)."""
from .base import BaseKDLoss
from .bg_weighted_soft_ce import BgWeightedSoftCELoss
from .cmc import CMCLoss
from .dml import DMLLoss
from .hkd import HKDLoss
from .shared_tau import SharedTemperatureLoss

KD_LOSSES = (HKDLoss, CMCLoss, DMLLoss, BgWeightedSoftCELoss)

__all__ = ['BaseKDLoss', 'HKDLoss', 'CMCLoss', 'DMLLoss', 'BgWeightedSoftCELoss',
           'SharedTemperatureLoss', 'KD_LOSSES']
