"""FLOPs of synthesis rounds, exact per round while the banks fill.

A round's FLOPs (torch's ``FlopCounterMode`` convention, 2 x multiply-accumulates; see
:mod:`mmkd_green.energy.flops`) depend only on shapes. For a synthesizer those are fixed by its
settings except for what it reads from its banks: CMI's contrastive head processes the current
batch *and* ``k = min(len(feature bank), n_neg)`` cached rows per view, so with ``R = N + k``
rows per view, feature width ``D`` and head width ``P``, its share of one step is::

    head(R) = 12·R·D·(D + P) + 4·R²·P       (2 views x forward + input/weight gradients of the
                                              two Linear layers, plus the R x R logits and
                                              their gradient w.r.t. the local projections)

which grows from round 0 (``k = 0``) until the bank holds ``n_neg`` rows. The synthesizer names
what determines a round's shapes in ``flops_key()`` (CMI: batch, steps, ``k``; DeepInversion:
batch, steps); :class:`SynthesisFlopCounter` counts a round with the counter whenever it meets a
key it has not counted yet and reuses that count for later rounds with the same key. The key
is read from the synthesizer's state at the start of the round, so a resumed run (banks
restored) reports the same per-round FLOPs as the uninterrupted one.
"""
from typing import Callable, Dict, Hashable, Tuple


class SynthesisFlopCounter:
    """``counter(synthesizer, run)`` → ``(run(), FLOPs of that round)``; counts once per key."""

    def __init__(self):
        self.by_key: Dict[Hashable, int] = {}
        self.counted_rounds = 0          # rounds actually run under the FLOP counter

    def __call__(self, synthesizer, run: Callable[[], object]) -> Tuple[object, int]:
        key = synthesizer.flops_key()
        if key in self.by_key:
            return run(), self.by_key[key]
        from mmkd_green.energy.flops import count_flops
        out, flops = count_flops(run)
        self.by_key[key] = flops
        self.counted_rounds += 1
        return out, flops
