"""The interface every data-free synthesizer implements.

A synthesizer inverts a frozen teacher into images. One *synthesis round*
(:meth:`BaseSynthesizer.synthesize`) optimises a batch of ``synthesis_batch_size`` images for
``iterations`` steps against a weighted sum of losses (subclasses define :meth:`invert`), keeps
one batch (per method: the last or the lowest-loss one) and appends it to an in-memory
:class:`~.bank.ImageBank`. KD steps then draw batches from the bank with :meth:`BaseSynthesizer.sample` (random crop with zero padding +
horizontal flip, then the teacher's normalisation: the CIFAR training transform).

All synthesizers share the inversion terms (weights ``bn``, ``oh``, ``adv``)::

    L = bn · Σ_l R_bn,l(x) + oh · CE(t(x), y) + adv · L_adv(s(x), t(x)) + (method terms)

with targets ``y`` drawn uniformly from the classes (sorted, for readable grids).

A synthesizer is an ``nn.Module`` (its generator/head are submodules; the image bank and other
non-parameter state go through ``get_extra_state``), bound to a teacher and student that it holds
*outside* its module tree. During a round teacher and student are in eval mode with gradients
off for their parameters (gradients still flow through them to the images), so no weight
gradient is computed for either and no synthesis gradient ever reaches the student's optimizer.
"""
import contextlib
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn as nn

from mmkd_green.utils.memory_format import resolve_channels_last

from .augment import Normalize, random_crop_flip
from .bank import ImageBank
from .bn_hooks import BNHooks
from .precision import SynthesisPrecision, check_amp, synthesis_dtype
from .round_store import RoundStore

CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)


class BaseSynthesizer(nn.Module):
    """Args:
        num_classes: classes of the teacher.
        img_size: ``(C, H, W)`` of the synthesized images.
        synthesis_batch_size: images per round.
        iterations: optimisation steps per round.
        lr: learning rate of the round's Adam optimizer.
        bn, oh, adv: weights of the BN-statistics, cross-entropy and adversarial terms.
        mean, std: the teacher's input normalisation (its training pipeline's).
        bank_size: max images kept (FIFO); ``None`` keeps all.
        kd_padding: zero padding of the random crop applied to KD batches (0: none).
        kd_flip: random horizontal flip of KD batches.
        channels_last: run the networks in channels-last (NHWC) memory format: :meth:`bind`
            puts the 4-D weights of teacher, student and the synthesizer's own networks
            (:meth:`own_networks`, CMI's generator) in that layout and synthesis steps feed
            them channels-last copies of the images (:meth:`net_input`); values and gradients
            are the same up to float rounding, only the memory layout differs, which oneDNN's
            CPU convolutions and cuDNN run faster (WRN-40-2 forward + backward with BN hooks,
            batch 64, this CPU: about 7 % less time with NHWC inputs alone). With ``False`` (or
            ``'auto'`` resolved to ``False``) :meth:`bind` puts them in NCHW instead. ``'auto'``
            (default): on where safe, off on an AVX2-only oneDNN CPU
            (:func:`mmkd_green.utils.memory_format.resolve_channels_last`).
        amp: run the networks of a synthesis step under autocast (``True``: bf16 on a CPU with
            native bf16, on CUDA bf16 where supported else fp16 with a dynamic loss scale for
            every optimizer step; ``'bf16'``/``'fp16'`` force one; see :mod:`.precision`):
            their convolutions in low precision, while the BN statistics
            (:class:`~.bn_hooks.BNHooks` upcasts each BN input), the logits, every loss term,
            the images and the optimizer stay fp32. Off by default; see README for its measured
            speed and how close its images come to the fp32 ones.
    """

    #: subclasses reading instance features (CMI) set this
    needs_instance_means = False

    def __init__(self, num_classes: int, img_size: Sequence[int] = (3, 32, 32),
                 synthesis_batch_size: int = 256, iterations: int = 200, lr: float = 1e-3,
                 bn: float = 1.0, oh: float = 1.0, adv: float = 0.0,
                 mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD,
                 bank_size: Optional[int] = None, kd_padding: int = 4, kd_flip: bool = True,
                 channels_last='auto', amp=False):
        super().__init__()
        name = type(self).__name__
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f'{name}: `num_classes` must be an int >= 2, got {num_classes!r}')
        if len(img_size) != 3:
            raise ValueError(f'{name}: `img_size` must be (C, H, W), got {img_size!r}')
        for key, val in dict(synthesis_batch_size=synthesis_batch_size,
                             iterations=iterations).items():
            if not isinstance(val, int) or val < 1:
                raise ValueError(f'{name}: `{key}` must be an int >= 1, got {val!r}')
        for key, val in dict(lr=lr, bn=bn, oh=oh, adv=adv).items():
            if val < 0 or (key == 'lr' and val == 0):
                raise ValueError(f'{name}: `{key}` must be {"> 0" if key == "lr" else ">= 0"}, '
                                 f'got {val!r}')
        if len(mean) != img_size[0]:
            raise ValueError(f'{name}: `mean`/`std` need one value per channel ({img_size[0]})')
        self.num_classes, self.img_size = num_classes, tuple(int(s) for s in img_size)
        self.synthesis_batch_size, self.iterations, self.lr = synthesis_batch_size, iterations, lr
        self.bn, self.oh, self.adv = float(bn), float(oh), float(adv)
        self.normalize = Normalize(mean, std)
        self.bank = ImageBank(bank_size)
        self.kd_padding, self.kd_flip = int(kd_padding), bool(kd_flip)
        self.channels_last = resolve_channels_last(channels_last)
        self.amp = check_amp(amp, name)
        self.precision = SynthesisPrecision(None, 'cpu')   # resolved per round (teacher's device)
        self.rounds = 0
        self.round_files: List[str] = []     # with a store: one file per round (round_store.py)
        self.last_losses: Dict[str, float] = {}

    # -- binding ---------------------------------------------------------------------------
    def bind(self, teacher: nn.Module, student: Optional[nn.Module] = None) -> 'BaseSynthesizer':
        """Attach the frozen teacher (and the student, for the adversarial term) and put both,
        with :meth:`own_networks`, in the synthesis memory layout (:meth:`apply_layout`)."""
        self.__dict__['_teacher'], self.__dict__['_student'] = teacher, student
        if self.adv > 0 and student is None:
            raise ValueError(f'{type(self).__name__}: adv={self.adv} needs a student; bind one '
                             'or set adv=0')
        self.on_bind(teacher)
        self.apply_layout()
        return self

    def on_bind(self, teacher: nn.Module) -> None:
        """Subclass hook: build parts that depend on the teacher (e.g. CMI's head)."""

    def own_networks(self) -> List[nn.Module]:
        """Subclass hook: the synthesizer's own convolutional networks (CMI: the generator)."""
        return []

    def apply_layout(self) -> None:
        """Teacher, student and :meth:`own_networks` to ``channels_last`` memory format when
        :attr:`channels_last`, else to NCHW (``Module.to(memory_format=...)``: 4-D parameters
        and buffers change strides, values do not).

        Every later move keeps the layout (``.to(device)`` preserves strides, checkpoint loads and
        weight re-initialisation write in place), so the networks stay in it through device
        moves, resume and CMI's per-round generator reset. Called from :meth:`bind`, i.e. when
        the distiller is built, before the Runner wraps the student in DDP (whose gradient
        buckets follow the parameters' strides)."""
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        for net in (self.teacher, self.student, *self.own_networks()):
            if net is not None:
                net.to(memory_format=fmt)

    @property
    def teacher(self) -> nn.Module:
        teacher = self.__dict__.get('_teacher')
        if teacher is None:
            raise RuntimeError(f'{type(self).__name__} is not bound: call `.bind(teacher, student)`')
        return teacher

    @property
    def student(self) -> Optional[nn.Module]:
        return self.__dict__.get('_student')

    @property
    def device(self) -> torch.device:
        return next(self.teacher.parameters()).device

    # -- synthesis -------------------------------------------------------------------------
    def random_targets(self, n: Optional[int] = None) -> torch.Tensor:
        n = n or self.synthesis_batch_size
        return torch.randint(0, self.num_classes, (n,)).sort()[0]

    def net_input(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as the teacher/student get it in a synthesis step (channels-last if enabled)."""
        return x.contiguous(memory_format=torch.channels_last) \
            if self.channels_last and x.dim() == 4 else x

    def run_net(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``net(x)`` as a synthesis step runs it: under autocast when ``amp`` (logits returned
        in fp32), else plainly."""
        if self.precision.dtype is None:
            return net(x)
        with self.precision.autocast():
            out = net(x)
        return out.float()

    def _resolve_precision(self) -> None:
        """The round's :class:`~.precision.SynthesisPrecision` for the teacher's device (kept
        across rounds while device and dtype stay, so the loss scale carries over)."""
        dtype = synthesis_dtype(self.amp, self.device, type(self).__name__)
        if (self.precision.dtype, self.precision.device) != (dtype, self.device):
            self.precision = SynthesisPrecision(dtype, self.device)

    @staticmethod
    def round_losses(terms: Dict[str, torch.Tensor]) -> Dict[str, float]:
        """A round's loss tensors as floats: one device-to-host copy per round."""
        tensors = [torch.as_tensor(v).detach().float().reshape(()) for v in terms.values()]
        device = next((t.device for t in tensors if t.device.type != 'cpu'), torch.device('cpu'))
        return dict(zip(terms, torch.stack([t.to(device) for t in tensors]).cpu().tolist())) \
            if tensors else {}

    def flops_key(self) -> tuple:
        """What fixes the shapes (hence the FLOPs) of the next round; subclasses reading their
        banks add what they read (see :mod:`mmkd_green.dfkd.synthesis_flops`)."""
        return (type(self).__name__, self.synthesis_batch_size, self.iterations)

    @contextlib.contextmanager
    def step_scope(self, step: int):
        """The context every synthesis step of :meth:`invert` runs in (forward, losses, backward,
        optimizer steps). While a :class:`~mmkd_green.dfkd.synthesis_flops.StepFlops` probe is
        attached (by :class:`~mmkd_green.dfkd.synthesis_flops.SynthesisFlopCounter`), the first
        step of the round runs under the FLOP counter and every step is counted; otherwise it
        adds nothing."""
        probe = self.__dict__.get('_step_flops')
        if probe is None:
            yield
            return
        with probe.step(step):
            yield

    def invert(self, targets: torch.Tensor, hooks: BNHooks, progress=None):
        """Optimise one batch for ``targets``; return ``(images in [0, 1], losses dict)``. Each
        step's body runs inside ``with self.step_scope(step):``."""
        raise NotImplementedError

    @contextlib.contextmanager
    def _models_frozen(self):
        """Teacher and student in eval mode with ``requires_grad=False`` on their parameters for
        the round; their flags and modes are restored afterwards.

        Gradients still flow *through* both networks to the images (or generator), but autograd
        skips every weight gradient of theirs: the backward pass of each network costs about one
        forward instead of two (WRN-40-2, batch 64, this CPU: 0.62 s instead of 0.98 s per
        forward + backward), and no synthesis gradient can reach the student's optimizer or pile
        up in the teacher's ``.grad``."""
        models = [m for m in (self.teacher, self.student) if m is not None]
        modes = [m.training for m in models]
        params = [p for m in models for p in m.parameters()]
        flags = [p.requires_grad for p in params]
        for m in models:
            m.eval()
        for p in params:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p, flag in zip(params, flags):
                p.requires_grad_(flag)
            for m, mode in zip(models, modes):
                m.train(mode)

    def synthesize(self, targets: Optional[torch.Tensor] = None, progress=None) -> dict:
        """One round: invert a batch, append it to the bank.

        Returns ``dict(images=(N, C, H, W) in [0, 1], targets=(N,), losses={name: float})``;
        ``progress`` (optional) is called as ``progress(step, losses)`` after every step, with
        the step's losses as 0-d tensors on the device (reading one is a host sync: do it at a
        log interval, not every step). A step reads nothing back to the host; ``losses`` are
        copied once, at the end of the round.
        """
        targets = self.random_targets() if targets is None else targets
        targets = targets.to(self.device)
        self._resolve_precision()
        with self._models_frozen(), torch.enable_grad(), \
                BNHooks(self.teacher, instance_means=self.needs_instance_means) as hooks:
            images, losses = self.invert(targets, hooks, progress)
        images = images.detach().clamp(0, 1)
        self.bank.add(images)
        store = self.__dict__.get('_store')
        if store is not None:
            self.round_files.append(store.save(self.rounds, dict(
                images=ImageBank.to_uint8(images), **self.round_record())))
        self.rounds += 1
        self.last_losses = losses
        return dict(images=images, targets=targets, losses=losses)

    # -- KD batches ------------------------------------------------------------------------
    def sample(self, batch_size: int, device=None, normalize: bool = True) -> torch.Tensor:
        """A KD batch from the bank: random crop with zero padding + flip (the CIFAR training
        transform), then the teacher's normalisation (``normalize=False``: values in [0, 1])."""
        x = self.bank.sample(batch_size, device=device or self.device)
        if self.kd_padding > 0 or self.kd_flip:
            x = random_crop_flip(x, padding=self.kd_padding, flip=self.kd_flip)
        return self.normalize(x) if normalize else x

    # -- checkpointing ---------------------------------------------------------------------
    def attach_store(self, store: Optional[RoundStore]) -> None:
        """Write every later round to ``store`` and keep only references to those files in the
        checkpoint state (see :mod:`.round_store`); ``None`` detaches (banks in the state)."""
        self.__dict__['_store'] = store

    def round_record(self) -> Dict[str, torch.Tensor]:
        """Subclass hook: tensors besides the images that the last round added to a bank."""
        return {}

    def extra_state(self, with_banks: bool = True) -> dict:
        """Subclass hook: more non-parameter state (optimizer states, memory banks; the banks
        only with ``with_banks``, else they are rebuilt from the round files)."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        """Subclass hook, inverse of :meth:`extra_state`; with round files, ``state`` carries
        their contents as ``round_records`` (oldest first)."""

    def get_extra_state(self) -> dict:
        if self.__dict__.get('_store') is not None and len(self.round_files) == self.rounds:
            return dict(round_files=list(self.round_files), bank_max_size=self.bank.max_size,
                        rounds=self.rounds, **self.extra_state(with_banks=False))
        return dict(bank=self.bank.state_dict(), rounds=self.rounds, **self.extra_state())

    def set_extra_state(self, state: dict) -> None:
        self.rounds = int(state.get('rounds', 0))
        if 'round_files' in state:
            files = list(state['round_files'])
            records = [RoundStore.load(path) for path in files]
            self.bank = ImageBank(state.get('bank_max_size', self.bank.max_size),
                                  device=self.bank.device)
            for rec in records:
                self.bank.add(rec['images'])
            self.round_files = files
            state = dict(state, round_records=records)
        else:
            self.bank.load_state_dict(state['bank'])
            self.round_files = []
        self.load_extra_state(state)
