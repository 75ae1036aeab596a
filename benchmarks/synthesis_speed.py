"""Synthesis throughput: our in-memory image bank vs an upstream-CMI-like PNG pipeline.

Both arms run the *same* synthesizer (ours, same teacher/student, same seed and settings); they
differ only in where synthesized images go and how KD batches come back:

* ``ours``: ``synthesize()`` appends uint8 tensors to the in-memory bank; KD batches are drawn
  from it and augmented as a batch on the device (crop with padding 4, flip, normalise).
* ``upstream_like``: as upstream zju-vipa/CMI's synthesizers do, every synthesized batch is
  written as one PNG per image, a dataset is rebuilt over *all* PNGs so far and a new
  ``DataLoader`` (4 workers, shuffle, pin_memory, torchvision RandomCrop(32, 4) + flip + ToTensor +
  Normalize per image) serves the KD batches.

The arms' rounds are interleaved (ours, upstream_like, ours, ...) so that a change of machine
load affects both alike, after one untimed 1-step warm-up round per arm (its images stay in
the arm's bank). One round = one ``synthesize()`` + ``kd_steps`` KD batch fetches (the data a KD epoch consumes;
the student update itself is identical in both arms and excluded). Throughput = synthesized
images / wall seconds over ``rounds`` rounds (``speedup`` = ours / upstream_like); the JSON
also splits each arm into optimisation, store and KD-fetch seconds, and ``data_path_speedup``
compares store + fetch only (what the arms differ in). One run, JSON to stdout (and ``--out``).
Defaults keep upstream CMI's ratio of 2 KD batches per synthesis step (400 : 200).

    python benchmarks/synthesis_speed.py [--method deepinversion|cmi] [--rounds 4]
        [--batch 64] [--iterations 10] [--kd-steps 20] [--kd-batch 64] [--out result.json]
"""
import argparse
import json
import os
import os.path as osp
import platform
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


def build_synth(args, teacher, student):
    common = dict(num_classes=10, synthesis_batch_size=args.batch, iterations=args.iterations)
    if args.method == 'cmi':
        cfg = dict(type='CMISynthesizer', lr=1e-3, adv=0.5, cr=0.8, cr_T=0.1, **common,
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
        self.synth = build_synth(args, teacher, student).to(device)
        if name == 'upstream_like':
            self.tmp = tempfile.mkdtemp(prefix='synth_bench_')
            self.synth.bank = PNGBank(self.tmp, args.kd_batch)
            self.fetch = lambda: self.synth.bank.sample(device)
        else:
            self.fetch = lambda: self.synth.sample(args.kd_batch)
        self.store = self.optimise = self.kd_fetch = 0.0
        add = self.synth.bank.add

        def timed_add(images):
            t = time.perf_counter()
            add(images)
            self.store += time.perf_counter() - t
        self.synth.bank.add = timed_add
        self.rng = torch.get_rng_state()

    def round(self):
        torch.set_rng_state(self.rng)          # each arm continues its own random stream
        t0 = time.perf_counter()
        self.synth.synthesize()
        t1 = time.perf_counter()
        for _ in range(self.args.kd_steps):
            batch = self.fetch()
        if self.device.type == 'cuda':
            torch.cuda.synchronize()
        assert batch.shape == (self.args.kd_batch, 3, 32, 32)
        if isinstance(self.synth.bank, PNGBank):
            # join the workers now: their leftover prefetching would otherwise run during (and
            # be charged to) the other arm's next round; this wasted work is not counted
            self.synth.bank.close()
            import gc
            gc.collect()
        self.optimise += t1 - t0
        self.kd_fetch += time.perf_counter() - t1
        self.rng = torch.get_rng_state()

    def result(self):
        images = self.args.rounds * self.args.batch      # warm-up round excluded
        total = self.optimise + self.kd_fetch
        return dict(images=images, seconds=total, images_per_s=images / total,
                    rounds=self.args.rounds,
                    optimise_seconds=self.optimise - self.store, store_seconds=self.store,
                    kd_fetch_seconds=self.kd_fetch, bank_images=len(self.synth.bank))


def main(argv=None):
    p = argparse.ArgumentParser(description='synthesis throughput: in-memory bank vs PNG folder')
    p.add_argument('--method', choices=('deepinversion', 'cmi'), default='deepinversion')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--batch', type=int, default=64, help='synthesis batch')
    p.add_argument('--iterations', type=int, default=10, help='optimisation steps per round')
    p.add_argument('--kd-steps', type=int, default=20, help='KD batches fetched per round')
    p.add_argument('--kd-batch', type=int, default=64)
    p.add_argument('--teacher-depth', type=int, default=16)
    p.add_argument('--teacher-width', type=int, default=1)
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--out', help='also write the JSON here')
    args = p.parse_args(argv)
    device = torch.device(args.device)
    result = dict(benchmark='synthesis_speed', config=vars(args), torch=torch.__version__,
                  threads=torch.get_num_threads(), cpu_count=os.cpu_count(),
                  machine=platform.machine())
    arms = [Arm(args, 'ours', device), Arm(args, 'upstream_like', device)]
    for arm in arms:                   # warm-up (kernels, allocator), then reset the clocks
        arm.synth.iterations, iterations = 1, arm.synth.iterations
        arm.round()
        arm.synth.iterations = iterations
        arm.store = arm.optimise = arm.kd_fetch = 0.0
    for _ in range(args.rounds):       # interleaved, so load changes hit both arms alike
        for arm in arms:
            arm.round()
    for arm in arms:
        result[arm.name] = arm.result()
        if hasattr(arm, 'tmp'):
            import shutil
            shutil.rmtree(arm.tmp, ignore_errors=True)
    ours, up = result['ours'], result['upstream_like']
    result['speedup'] = ours['images_per_s'] / up['images_per_s']
    # the part the two arms differ in: storing synthesized images + serving KD batches
    result['data_path_speedup'] = ((up['store_seconds'] + up['kd_fetch_seconds']) /
                                   (ours['store_seconds'] + ours['kd_fetch_seconds']))
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text + '\n')
    return result


if __name__ == '__main__':
    main()
