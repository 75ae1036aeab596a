"""``StageProgressHook``: one console line per training epoch with an ETA, one per evaluation.

For runs whose log level hides mmengine's own iteration logs (the README demo runs at WARNING)::

    custom_hooks = [..., dict(type='StageProgressHook', stage='teacher')]

prints on the main process, e.g.::

    [teacher] 20 epochs x 30 iterations
    [teacher] epoch  3/20  loss 1.234  9.8 s/epoch  ETA 2m47s
    [teacher] test: 80 images in 3.1 s  pascal_voc/mAP 0.612

ETA = mean seconds per finished epoch (validation included) x epochs left; loss = mean over the
epoch's iterations.
"""
import sys
import time
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from ..registry import HOOKS


def format_seconds(seconds: float) -> str:
    """``75`` → ``'1m15s'``, ``3700`` → ``'1h01m'``, ``9.4`` → ``'9s'``."""
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m'
    if seconds >= 60:
        return f'{seconds // 60}m{seconds % 60:02d}s'
    return f'{seconds}s'


@HOOKS.register_module()
class StageProgressHook(Hook):
    """Per-epoch progress line with ETA, and a line per validation/test (module docstring).

    Args:
        stage (str): the name at the start of every line.
        stream: where to write (default ``sys.stdout``), flushed after every line.
    """

    priority = 'LOW'

    def __init__(self, stage: str = 'train', stream=None):
        self.stage, self.stream = stage, stream
        self._t0: Optional[float] = None
        self._eval_t0: Optional[float] = None
        self._eval_images = 0
        self._iters: Optional[int] = None

    def say(self, text: str) -> None:
        if is_main_process():
            stream = self.stream or sys.stdout
            stream.write(f'[{self.stage}] {text}\n')
            stream.flush()

    # ------------------------------------------------------------------ training
    def before_train(self, runner) -> None:
        self._t0 = time.perf_counter()
        self._start_epoch = runner.epoch
        try:
            self._iters = len(runner.train_dataloader)
            per_epoch = f' x {self._iters} iterations'
        except TypeError:
            self._iters, per_epoch = None, ''
        epochs = 'epoch' if runner.max_epochs == 1 else 'epochs'
        self.say(f'{runner.max_epochs} {epochs}{per_epoch}')

    def after_train_epoch(self, runner) -> None:
        epoch = runner.epoch + 1   # mmengine counts the epoch up after this hook
        done = epoch - self._start_epoch
        elapsed = time.perf_counter() - self._t0
        per_epoch = elapsed / max(done, 1)
        left = runner.max_epochs - epoch
        loss = runner.message_hub.get_scalar('train/loss') \
            if 'train/loss' in runner.message_hub.log_scalars else None
        loss_text = f'  loss {loss.mean(self._iters):.3f}' if loss is not None else ''
        width = len(str(runner.max_epochs))
        self.say(f'epoch {epoch:>{width}}/{runner.max_epochs}{loss_text}  '
                 f'{per_epoch:.1f} s/epoch  ' +
                 (f'ETA {format_seconds(per_epoch * left)}' if left else
                  f'done in {format_seconds(elapsed)}'))

    # ------------------------------------------------------------------ evaluation
    def _eval_start(self) -> None:
        self._eval_t0, self._eval_images = time.perf_counter(), 0

    def _eval_iter(self, data_batch) -> None:
        inputs = data_batch.get('inputs') if isinstance(data_batch, dict) else None
        self._eval_images += len(inputs) if inputs is not None else 0

    def _eval_end(self, what: str, metrics) -> None:
        seconds = time.perf_counter() - (self._eval_t0 or time.perf_counter())
        shown = '  '.join(f'{k} {v:.3f}' for k, v in (metrics or {}).items()
                          if isinstance(v, (int, float)))
        self.say(f'{what}: {self._eval_images} images in {seconds:.1f} s  {shown}'.rstrip())

    def before_val_epoch(self, runner) -> None:
        self._eval_start()

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._eval_iter(data_batch)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._eval_end('validation', metrics)

    def before_test_epoch(self, runner) -> None:
        self._eval_start()

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._eval_iter(data_batch)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._eval_end('test', metrics)
