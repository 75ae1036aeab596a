"""Running summary of the KD temperatures τ used in a segment of training.

``count``, ``mean``, ``min``, ``max`` and a unit-width histogram ``hist`` = ``{k: number of τ in
[k, k + 1)}`` (keys are strings in JSON), small enough to store on every epoch line and to merge
across epochs and ranks for the report's τ histogram.
"""
import math
from typing import Dict, Iterable, Optional


class TauStats:

    def __init__(self):
        self.count, self.total = 0, 0.0
        self.min, self.max = math.inf, -math.inf
        self.hist: Dict[int, int] = {}

    def add(self, tau) -> None:
        """A float, or a tensor/array of per-sample τ (all values are added)."""
        if tau is None:
            return
        if hasattr(tau, 'detach'):
            values = tau.detach().float().reshape(-1).cpu().tolist()
        elif hasattr(tau, 'tolist') and not isinstance(tau, (int, float)):
            values = list(tau.reshape(-1).tolist())
        else:
            values = [float(tau)]
        for v in values:
            self.count += 1
            self.total += v
            self.min = min(self.min, v)
            self.max = max(self.max, v)
            k = math.floor(v)
            self.hist[k] = self.hist.get(k, 0) + 1

    def summary(self) -> Optional[dict]:
        if not self.count:
            return None
        return dict(count=self.count, mean=self.total / self.count, min=self.min, max=self.max,
                    hist={str(k): n for k, n in sorted(self.hist.items())})

    @staticmethod
    def merge(summaries: Iterable[Optional[dict]]) -> Optional[dict]:
        """Combine summaries (of epochs or ranks) into one."""
        out = TauStats()
        for s in summaries:
            if not s:
                continue
            out.count += s['count']
            out.total += s['mean'] * s['count']
            out.min, out.max = min(out.min, s['min']), max(out.max, s['max'])
            for k, n in s['hist'].items():
                out.hist[int(k)] = out.hist.get(int(k), 0) + n
        return out.summary()
