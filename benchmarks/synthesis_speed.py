"""Synthesis throughput: our pipeline vs a run configured like upstream zju-vipa/CMI.

Both arms run our synthesizer code on the same teacher/student (same seed and settings), so the
loss math is identical; the ``upstream_like`` arm reproduces the two things upstream's
``datafree_kd.py`` + ``datafree/synthesis`` (commit 9e79fa9) do differently from ours:

* **models not frozen during synthesis**: upstream builds the teacher with ``.eval()`` only and
  sets ``student.eval()`` in ``synthesize()``; their parameters keep ``requires_grad=True``, so
  every synthesis backward also computes (and accumulates) all teacher and student weight
  gradients. Ours turns them off for the round (``BaseSynthesizer._models_frozen``).
* **memory layout**: upstream feeds the networks default (NCHW) tensors; ours feeds
  channels-last copies (``BaseSynthesizer.channels_last``), which oneDNN runs faster on CPU.
* **PNG pool + DataLoader rebuild**: every synthesized batch is written as one PNG per image, a
  dataset is rebuilt over *all* PNGs so far and a new ``DataLoader`` (4 workers, shuffle,
  pin_memory, torchvision RandomCrop(32, 4) + flip + ToTensor + Normalize per image) serves the
  KD batches. Ours appends uint8 tensors to the in-memory bank and augments KD batches as one
  tensor (crop with padding 4, flip, normalise).

(Upstream CMI also computes the BN-statistics term for the local view and throws it away; the
``upstream_like`` arm does not, so it is slightly faster than upstream there.)

With a checkout of zju-vipa/CMI (``--upstream-root`` or ``$MMKD_CMI_ROOT``, plus its kornia,
einops, scikit-learn, termcolor) a third arm ``upstream`` runs upstream's own
``CMISynthesizer``/``DeepInvSyntheiszer`` with its own WRN models, generator, PNG pool and
DataLoader, built as its ``datafree_kd.py`` builds them, with the same settings; the JSON then
also has ``speedup_vs_upstream`` and ``cpu_speedup_vs_upstream``. Each arm reports its teacher's
forward FLOPs per image (the same network in all arms).

The arms' rounds are interleaved (ours, upstream_like, ours, ...) so that a change of machine
load affects both alike, after one untimed 1-step warm-up round per arm (its images stay in
the arm's bank). One round = one ``synthesize()`` + ``kd_steps`` KD batch fetches (the data a KD
epoch consumes; the student update itself is identical in both arms and excluded). Throughput =
synthesized images per wall second over ``rounds`` rounds (``speedup`` = ours / upstream_like)
and per CPU second (``cpu_speedup``; process CPU time of all threads plus the reaped DataLoader
workers': the work done, which is what the energy meter estimates on CPU, and which a busy
machine disturbs less than wall time). The JSON splits each arm into optimisation, store and
KD-fetch seconds: ``optimisation_speedup`` compares the optimisation alone (weights and layout),
``data_path_speedup`` store + fetch alone (each also as ``cpu_*``). One run, JSON to stdout
(and ``--out``). Defaults:
the paper's WRN-40-2 teacher and WRN-16-1 student, and upstream CMI's ratio of 2 KD batches per
synthesis step (400 : 200) at equal batch size.

    python benchmarks/synthesis_speed.py [--method deepinversion|cmi] [--rounds 3]
        [--batch 64] [--iterations 10] [--kd-steps 20] [--kd-batch 64] [--threads N] [--amp]
        [--upstream-root CMI_CHECKOUT] [--out result.json]
"""
import argparse
import contextlib
import gc
import os
import os.path as osp
import platform
import resource
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
from PIL import Image  # noqa: E402
from torch.utils.data import DataLoader, Dataset  # noqa: E402

import mmkd_green  # noqa: E402,F401
from mmkd_green.classification import WideResNet  # noqa: E402
from mmkd_green.dfkd.synthesis import CIFAR10_MEAN, CIFAR10_STD  # noqa: E402
from mmkd_green.energy.records import print_json  # noqa: E402
from mmkd_green.registry import MODELS  # noqa: E402


class PNGFolder(Dataset):
    """All ``*.png`` under ``root`` (re-listed at construction), loaded with PIL per item."""

    def __init__(self, root, transform):
        self.files = sorted(osp.join(d, f) for d, _, fs in os.walk(root) for f in fs
                            if f.endswith('.png'))
        self.transform = transform

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return self.transform(Image.open(self.files[i]).convert('RGB'))


class PNGBank:
    """Upstream-like store: PNG per image, DataLoader rebuilt after every added batch."""

    def __init__(self, root, batch_size, workers=4):
        import torchvision.transforms as T
        self.root, self.batch_size, self.workers = root, batch_size, workers
        self.transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
                                    T.ToTensor(), T.Normalize(CIFAR10_MEAN, CIFAR10_STD)])
        self.n, self.it, self.loader = 0, None, None

    def __len__(self):
        return self.n

    def add(self, images):
        arr = (images.detach().clamp(0, 1).mul(255).round().to(torch.uint8)
               .permute(0, 2, 3, 1).cpu().numpy())
        for img in arr:
            Image.fromarray(img).save(osp.join(self.root, f'{self.n}.png'))
            self.n += 1
        self.loader = DataLoader(PNGFolder(self.root, self.transform), batch_size=self.batch_size,
                                 shuffle=True, num_workers=self.workers, pin_memory=True)
        self.it = iter(self.loader)

    def close(self):
        """Stop the loader's workers (upstream drops the iterator at its next rebuild)."""
        self.it = None

    def sample(self, device):
        try:
            batch = next(self.it)
        except StopIteration:
            self.it = iter(self.loader)
            batch = next(self.it)
        return batch.to(device)


@contextlib.contextmanager
def upstream_eval_only(teacher, student):
    """What upstream does to the models around a synthesis round: ``eval()``, weights trainable
    (``requires_grad`` left on), student back to ``train()`` afterwards."""
    teacher.eval()
    student.eval()
    try:
        yield
    finally:
        student.train()


def build_synth(args, teacher, student, amp=False):
    common = dict(num_classes=10, synthesis_batch_size=args.batch, iterations=args.iterations,
                  amp=amp)
    if args.method == 'cmi':
        cfg = dict(type='CMISynthesizer', lr=1e-3, adv=0.5, cr=0.8, cr_T=0.2, **common,
                   feature_bank_size=4096, n_neg=1024)
    else:
        cfg = dict(type='DeepInversionSynthesizer', lr=0.1, bn=10.0, adv=1.0, tv=1e-3, **common)
    return MODELS.build(cfg).bind(teacher, student)


class Arm:
    """One arm: its own teacher/student/synthesizer (same seed as the other arm)."""

    def __init__(self, args, name, device):
        torch.manual_seed(args.seed)
        self.args, self.name, self.device = args, name, device
        teacher = WideResNet(args.teacher_depth, args.teacher_width, 10).to(device).eval()
        student = WideResNet(16, 1, 10).to(device)
        self.synth = build_synth(args, teacher, student, amp=name == 'ours_amp').to(device)
        self.teacher_flops = forward_flops(teacher, device)
        if name == 'upstream_like':
            self.synth._models_frozen = lambda: upstream_eval_only(teacher, student)
            self.synth.channels_last = False
            self.tmp = tempfile.mkdtemp(prefix='synth_bench_')
            self.synth.bank = PNGBank(self.tmp, args.kd_batch)
            self.fetch = lambda: self.synth.bank.sample(device)
        else:
            self.fetch = lambda: self.synth.sample(args.kd_batch)
        self.reset()
        self.synth.bank.add = self.timed_store(self.synth.bank.add)
        self.rng = torch.get_rng_state()

    def close_loader(self):
        if isinstance(self.synth.bank, PNGBank):
            self.synth.bank.close()
            gc.collect()

    def bank_images(self) -> int:
        return len(self.synth.bank)

    def reset(self):
        self.wall = dict(synthesize=0.0, store=0.0, kd_fetch=0.0)
        self.cpu = dict(self.wall)

    @contextlib.contextmanager
    def charge(self, phase: str):
        """Add the wall and CPU seconds of the block to ``phase``."""
        t, c = time.perf_counter(), cpu_seconds()
        try:
            yield
        finally:
            self.wall[phase] += time.perf_counter() - t
            self.cpu[phase] += cpu_seconds() - c

    def timed_store(self, fn):
        """``fn`` (a part of storing synthesized images) with its time charged to ``store``."""
        def run(*args, **kwargs):
            with self.charge('store'):
                return fn(*args, **kwargs)
        return run

    def round(self):
        torch.set_rng_state(self.rng)          # each arm continues its own random stream
        with self.charge('synthesize'):
            self.synth.synthesize()
        with self.charge('kd_fetch'):
            for _ in range(self.args.kd_steps):
                batch = self.fetch()
            if self.device.type == 'cuda':
                torch.cuda.synchronize()
            assert batch.shape == (self.args.kd_batch, 3, 32, 32)
            # join loader workers now (upstream drops them at its next rebuild): their leftover
            # prefetching must not run during the other arm's round; joined workers' CPU time
            # reaches RUSAGE_CHILDREN and is charged to this arm
            self.close_loader()
        self.rng = torch.get_rng_state()

    def result(self):
        images = self.args.rounds * self.args.batch      # warm-up round excluded
        out = dict(images=images, rounds=self.args.rounds, bank_images=self.bank_images(),
                   teacher_forward_flops=self.teacher_flops)
        for kind, clock in (('', self.wall), ('cpu_', self.cpu)):
            total = clock['synthesize'] + clock['kd_fetch']
            out.update({f'{kind}seconds': total, f'images_per_{kind or "wall_"}s': images / total,
                        f'{kind}optimise_seconds': clock['synthesize'] - clock['store'],
                        f'{kind}store_seconds': clock['store'],
                        f'{kind}kd_fetch_seconds': clock['kd_fetch']})
        return out


class UpstreamArm(Arm):
    """Upstream itself: ``datafree.synthesis.CMISynthesizer`` / ``DeepInvSyntheiszer`` of a
    zju-vipa/CMI checkout (``--upstream-root`` or ``$MMKD_CMI_ROOT``; needs kornia & co.) with
    upstream's own WRN models, generator, PNG pool and DataLoader, built as ``datafree_kd.py``
    builds them, with the same settings as the other arms."""

    def __init__(self, args, device):
        import torchvision.transforms as T
        from mmkd_green.dfkd.upstream_cmi import import_upstream
        datafree, registry = import_upstream(args.upstream_root)
        torch.manual_seed(args.seed)
        self.args, self.name, self.device = args, 'upstream', device
        teacher = registry.get_model(f'wrn{args.teacher_depth}_{args.teacher_width}',
                                     num_classes=10).to(device).eval()
        student = registry.get_model('wrn16_1', num_classes=10).to(device)
        self.teacher_flops = forward_flops(teacher, device)
        norm = registry.NORMALIZE_DICT['cifar10']
        transform = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(),
                               T.ToTensor(), T.Normalize(**norm)])   # upstream's CIFAR train
        self.tmp = tempfile.mkdtemp(prefix='synth_bench_upstream_')
        common = dict(num_classes=10, img_size=(3, 32, 32), iterations=args.iterations,
                      synthesis_batch_size=args.batch, sample_batch_size=args.kd_batch,
                      save_dir=self.tmp, transform=transform,
                      normalizer=datafree.utils.Normalizer(**norm), device=device)
        if args.method == 'cmi':
            generator = datafree.models.generator.Generator(nz=256, ngf=64, img_size=32, nc=3)
            self.synth = datafree.synthesis.CMISynthesizer(
                teacher, student, generator, nz=256, feature_layers=None, bank_size=4096,
                n_neg=1024, head_dim=256, lr_g=1e-3, adv=0.5, bn=1, oh=1, cr=0.8, cr_T=0.2,
                **common)
        else:
            self.synth = datafree.synthesis.DeepInvSyntheiszer(
                teacher, student, lr_g=0.1, adv=1.0, bn=10.0, oh=1.0, tv=1e-3, l2=0.0, **common)
        self.fetch = self.synth.sample
        self.reset()
        pool = self.synth.data_pool
        pool.add, pool.get_dataset = self.timed_store(pool.add), self.timed_store(pool.get_dataset)
        self.rng = torch.get_rng_state()

    def close_loader(self):
        self.synth.data_iter = None
        gc.collect()

    def bank_images(self) -> int:
        return sum(f.endswith('.png') for f in os.listdir(self.tmp))


def forward_flops(model, device) -> int:
    """FLOPs of one 32x32 image through ``model`` (shows both arms' teachers cost the same)."""
    from mmkd_green.energy.flops import count_flops
    with torch.no_grad():
        return count_flops(model, torch.zeros(1, 3, 32, 32, device=device))[1]


def cpu_seconds() -> float:
    """CPU seconds of this process (all threads) plus its reaped children (loader workers)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ru.ru_utime + ru.ru_stime


def main(argv=None):
    p = argparse.ArgumentParser(description='synthesis throughput: in-memory bank vs PNG folder')
    p.add_argument('--method', choices=('deepinversion', 'cmi'), default='deepinversion')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--batch', type=int, default=64, help='synthesis batch')
    p.add_argument('--iterations', type=int, default=10, help='optimisation steps per round')
    p.add_argument('--kd-steps', type=int, default=20, help='KD batches fetched per round')
    p.add_argument('--kd-batch', type=int, default=64)
    p.add_argument('--teacher-depth', type=int, default=40)
    p.add_argument('--teacher-width', type=int, default=2)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--amp', action='store_true',
                   help='add the arm `ours_amp`: ours with amp=True (bf16 autocast on CPU)')
    p.add_argument('--threads', type=int, help='torch intra-op threads (default: torch\'s)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--upstream-root', default=os.environ.get('MMKD_CMI_ROOT'),
                   help='a zju-vipa/CMI checkout (default $MMKD_CMI_ROOT): adds the arm '
                        '`upstream`, upstream\'s own synthesizer')
    p.add_argument('--out', help='also write the JSON here')
    args = p.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = dict(benchmark='synthesis_speed', config=vars(args), torch=torch.__version__,
                  threads=torch.get_num_threads(), cpu_count=os.cpu_count(),
                  machine=platform.machine())
    arms = [Arm(args, 'ours', device), Arm(args, 'upstream_like', device)]
    if args.amp:
        arms.insert(1, Arm(args, 'ours_amp', device))
    if args.upstream_root:
        arms.append(UpstreamArm(args, device))
    for arm in arms:                   # warm-up (kernels, allocator), then reset the clocks
        arm.synth.iterations, iterations = 1, arm.synth.iterations
        arm.round()
        arm.synth.iterations = iterations
        arm.reset()
    for _ in range(args.rounds):       # interleaved, so load changes hit both arms alike
        for arm in arms:
            arm.round()
    for arm in arms:
        result[arm.name] = arm.result()
        if hasattr(arm, 'tmp'):
            import shutil
            shutil.rmtree(arm.tmp, ignore_errors=True)
    ours = result['ours']
    for mine, prefix in (('ours', ''), ('ours_amp', 'amp_')):   # amp_*: the same for ours_amp
        for other, suffix in (('upstream_like', ''), ('upstream', '_vs_upstream')):
            if mine in result and other in result:
                for kind in ('', 'cpu_'):
                    rate = f'images_per_{kind or "wall_"}s'
                    result[f'{prefix}{kind}speedup{suffix}'] = \
                        result[mine][rate] / result[other][rate]
    up = result['upstream_like']
    for kind in ('', 'cpu_'):
        result[f'{kind}optimisation_speedup'] = (up[f'{kind}optimise_seconds'] /
                                                 ours[f'{kind}optimise_seconds'])
        # the part the two arms' data handling differs in: storing + serving KD batches
        result[f'{kind}data_path_speedup'] = (
            (up[f'{kind}store_seconds'] + up[f'{kind}kd_fetch_seconds']) /
            (ours[f'{kind}store_seconds'] + ours[f'{kind}kd_fetch_seconds']))
    print_json(result, args.out)
    return result


if __name__ == '__main__':
    main()
