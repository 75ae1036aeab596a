"""FLOPs of synthesis rounds: one counted step per round shape, times the round's steps.

A round's FLOPs (torch's ``FlopCounterMode`` convention, 2 x multiply-accumulates; see
:mod:`mmkd_green.energy.flops`) depend only on shapes. Every step of a round has the same shapes
(the batch, the views, and for CMI the negatives read from the feature bank, which only grows
after the round), so with ``S`` steps (``iterations``)::

    F_round = S · F_step          F_step: the FLOPs of the round's first step, counted

Only that step runs under the counter's dispatch mode (``BaseSynthesizer.step_scope``); the
other ``S − 1`` steps, and every round whose shapes were already counted, run without it.
(Before, the whole round ran under the dispatch mode: the same total, tested, at ``S`` times
the counting overhead.) Elementwise work outside the steps (re-initialising the generator,
drawing ``z``, adding to the banks) counts 0 in this convention either way.

For a synthesizer the shapes are fixed by its settings except for what it reads from its
banks: CMI's contrastive head processes the current batch *and*
``k = min(len(feature bank), n_neg)`` cached rows per view, so with ``R = N + k`` rows per
view, feature width ``D`` and head width ``P``, its share of one step is::

    head(R) = 12·R·D·(D + P) + 4·R²·P       (2 views x forward + input/weight gradients of the
                                              two Linear layers, plus the R x R logits and
                                              their gradient w.r.t. the local projections)

which grows from round 0 (``k = 0``) until the bank holds ``n_neg`` rows. The synthesizer names
what determines a round's shapes in ``flops_key()`` (CMI: batch, steps, ``k``; DeepInversion:
batch, steps); :class:`SynthesisFlopCounter` counts one step of a round whenever it meets a key
it has not counted yet and reuses that round's total for later rounds with the same key. The key
is read from the synthesizer's state at the start of the round, so a resumed run (banks
restored) reports the same per-round FLOPs as the uninterrupted one.
"""
import contextlib
import logging
from typing import Callable, Dict, Hashable, Optional, Tuple


class StepFlops:
    """The probe a synthesizer's ``step_scope`` uses during one round: the FLOPs of the round's
    first step (``flops``) and the number of steps run (``steps``)."""

    def __init__(self):
        self.flops: Optional[int] = None
        self.steps = 0

    @contextlib.contextmanager
    def step(self, index: int):
        self.steps += 1
        if index != 0 or self.flops is not None:
            yield
            return
        from mmkd_green.energy.flops import flop_counter
        with flop_counter() as mode:
            yield
        self.flops = int(mode.get_total_flops())

    def round_flops(self) -> Optional[int]:
        """``F_step · S``; ``None`` when no step was counted."""
        return None if self.flops is None else self.flops * self.steps


class SynthesisFlopCounter:
    """``counter(synthesizer, run)`` → ``(run(), FLOPs of that round)``; counts one step per key.

    ``run`` must run one round of ``synthesizer`` (e.g. ``synthesizer.synthesize``). A round
    whose synthesizer runs no step through ``step_scope`` gets ``None`` (unknown) and is not
    cached."""

    def __init__(self):
        self.by_key: Dict[Hashable, int] = {}
        self.counted_rounds = 0          # rounds in which a step ran under the FLOP counter
        self.counted_steps = 0           # steps that ran under it (one per counted round)

    def __call__(self, synthesizer, run: Callable[[], object]) -> Tuple[object, Optional[int]]:
        key = synthesizer.flops_key()
        if key in self.by_key:
            return run(), self.by_key[key]
        probe = StepFlops()
        synthesizer.__dict__['_step_flops'] = probe
        try:
            out = run()
        finally:
            synthesizer.__dict__.pop('_step_flops', None)
        flops = probe.round_flops()
        if flops is None:
            from mmengine.logging import print_log
            print_log(f'{type(synthesizer).__name__} ran no step through step_scope(): its '
                      'synthesis FLOPs are not counted', logger='current', level=logging.WARNING)
            return out, None
        self.by_key[key] = flops
        self.counted_rounds += 1
        self.counted_steps += 1
        return out, flops
