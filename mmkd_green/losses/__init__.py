"""Logit KD losses that read the run's shared τ (or use a fixed one)."""
from .base import BaseKDLoss
from .cmc import CMCLoss
from .dml import DMLLoss
from .hkd import HKDLoss

KD_LOSSES = (HKDLoss, CMCLoss, DMLLoss)

__all__ = ['BaseKDLoss', 'HKDLoss', 'CMCLoss', 'DMLLoss', 'KD_LOSSES']
