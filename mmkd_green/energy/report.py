"""Reading a run's carbon records back: totals per run, used by ``tools/carbon_report.py``, the
τ grid-search tool and the detection demo.

``load_run_totals(run_dir)`` always re-aggregates ``<run_dir>/carbon/carbon.jsonl`` (the durable
source of truth), so it works on finished runs, crashed runs (no ``summary.json``) and resumed runs
(every attempt's energy was spent, so every segment counts).
"""
import os.path as osp
from typing import List, Optional

from .records import read_records
from .tau_stats import TauStats

CARBON_DIR = 'carbon'
JSONL_NAME = 'carbon.jsonl'
SUMMARY_NAME = 'summary.json'
SEGMENT_TYPES = ('epoch', 'final')


def carbon_jsonl_path(run_dir: str) -> str:
    """``<run_dir>/carbon/carbon.jsonl`` (``run_dir`` may also be the carbon folder itself)."""
    for candidate in (osp.join(run_dir, CARBON_DIR, JSONL_NAME), osp.join(run_dir, JSONL_NAME)):
        if osp.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        f'no carbon records in {run_dir!r} (looked for {CARBON_DIR}/{JSONL_NAME}). Train with '
        f'`dict(type="CarbonFootprintHook")` in `custom_hooks` (the runs\' work_dir holds them).')


def _sum(values) -> Optional[float]:
    values = [v for v in values if v is not None]
    return sum(values) if values else None


def aggregate(records: List[dict]) -> dict:
    """Totals over the segment records (``epoch`` + ``final`` lines) of one run."""
    segs = [r for r in records if r.get('type') in SEGMENT_TYPES]
    vals = [r for r in records if r.get('type') == 'val']
    starts = [r for r in records if r.get('type') == 'start']
    infer = [r.get('infer_flops_per_image') for r in records
             if r.get('infer_flops_per_image') is not None]
    components = {}
    for r in segs:
        for comp, c in (r.get('components') or {}).items():
            slot = components.setdefault(comp, dict(energy_j=None, methods=[]))
            if c.get('energy_j') is not None:
                slot['energy_j'] = (slot['energy_j'] or 0.0) + c['energy_j']
            if c.get('method') not in slot['methods']:
                slot['methods'].append(c.get('method'))
    return dict(
        energy_kwh=_sum(r.get('energy_kwh') for r in segs) or 0.0,
        energy_kwh_it=_sum(r.get('energy_kwh_it') for r in segs) or 0.0,
        co2_g=_sum(r.get('co2_g') for r in segs) or 0.0,
        train_flops=_sum(r.get('train_flops') for r in segs),
        infer_flops_per_image=infer[-1] if infer else None,
        seconds=_sum(r.get('seconds') for r in segs) or 0.0,
        epochs=sum(r.get('type') == 'epoch' for r in segs),
        metric=vals[-1].get('metrics') if vals else None,
        segments=len(segs),
        unmeasured_segments=sum(not r.get('measured', True) for r in segs),
        finished=bool(segs) and segs[-1].get('type') == 'final',
        attempts=len(starts),
        components=components,
        tau=TauStats.merge(r.get('tau') for r in segs),
        run_info=starts[-1].get('run_info') if starts else None,
        pue=segs[-1].get('pue') if segs else None,
        carbon_intensity=segs[-1].get('carbon_intensity') if segs else None,
    )


def load_run_records(run_dir: str) -> List[dict]:
    records, _ = read_records(carbon_jsonl_path(run_dir))
    return records


def load_run_totals(run_dir: str) -> dict:
    """Totals of one run.

    Keys: ``energy_kwh`` (after PUE), ``energy_kwh_it`` (before PUE), ``co2_g``, ``train_flops``
    (None when FLOPs were not counted), ``infer_flops_per_image`` (or None), ``seconds``,
    ``epochs`` (epoch lines; segments for iteration-based loops), ``metric`` (the last validation
    metrics dict, or None); also ``unmeasured_segments``, ``finished``, ``attempts``,
    ``components``, ``tau``, ``run_info``, ``pue``, ``carbon_intensity``.
    """
    return aggregate(load_run_records(run_dir))
