"""Reading a run's carbon records back: totals per run, used by ``tools/carbon_report.py``, the
τ grid-search tool and the detection demo.

``load_run_totals(run_dir)`` always re-aggregates ``<run_dir>/carbon/carbon.jsonl`` (the durable
source of truth), so it works on finished runs, crashed runs (no ``summary.json``) and resumed runs
(every attempt's energy was spent, so every segment counts).
"""
import os
import os.path as osp
import re
from typing import List, Optional, Tuple

from .records import describe_problems, read_records, read_records_checked
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
            slot = components.setdefault(comp, dict(energy_j=None, methods=[], sources=[],
                                                    unread_segments=0))
            if c.get('energy_j') is not None:
                slot['energy_j'] = (slot['energy_j'] or 0.0) + c['energy_j']
            elif c.get('method') != 'unavailable':
                slot['unread_segments'] += 1
            if c.get('method') not in slot['methods']:
                slot['methods'].append(c.get('method'))
            if c.get('source') and c['source'] not in slot['sources']:
                slot['sources'].append(c['source'])
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
        finished=run_finished(segs),
        attempts=len(starts),
        components=components,
        tau=TauStats.merge(r.get('tau') for r in segs),
        run_info=starts[-1].get('run_info') if starts else None,
        pue=segs[-1].get('pue') if segs else None,
        carbon_intensity=segs[-1].get('carbon_intensity') if segs else None,
    )


def run_finished(segments: List[dict]) -> bool:
    """A run finished when its last segment line is a ``final`` one not marked
    ``finished: false`` (a crash or kill leaves no ``final`` line; the upstream adapter writes
    ``finished: false`` when upstream raised)."""
    return bool(segments) and segments[-1].get('type') == 'final' and \
        segments[-1].get('finished', True) is not False


def methods_text(components: dict) -> str:
    """``'cpu estimated (cpu-time), dram unavailable, gpu measured (nvml)'`` from
    :func:`aggregate`'s ``components``; ``*`` marks a component some segments could not read."""
    parts = []
    for comp in sorted(components):
        c = components[comp]
        text = f'{comp} {"/".join(m for m in c["methods"] if m)}'
        if c.get('sources'):
            text += f' ({"+".join(c["sources"])})'
        if c.get('unread_segments'):
            text += f' *{c["unread_segments"]} unread'
        parts.append(text)
    return ', '.join(parts)


def load_run_records(run_dir: str) -> List[dict]:
    records, _ = read_records(carbon_jsonl_path(run_dir))
    return records


def load_run_records_checked(run_dir: str) -> Tuple[List[dict], Optional[str]]:
    """``(records, None or the message naming the bad lines skipped)``; raises
    ``FileNotFoundError`` (no records) or ``OSError`` (unreadable file)."""
    path = carbon_jsonl_path(run_dir)
    records, problems = read_records_checked(path)
    return records, describe_problems(path, problems) if problems else None


def load_run_totals(run_dir: str) -> dict:
    """Totals of one run.

    Keys: ``energy_kwh`` (after PUE), ``energy_kwh_it`` (before PUE), ``co2_g``, ``train_flops``
    (None when FLOPs were not counted), ``infer_flops_per_image`` (or None), ``seconds``,
    ``epochs`` (epoch lines; segments for iteration-based loops), ``metric`` (the last validation
    metrics dict, or None); also ``unmeasured_segments``, ``finished``, ``attempts``,
    ``components``, ``tau``, ``run_info``, ``pue``, ``carbon_intensity``.
    """
    return aggregate(load_run_records(run_dir))


# ---------------------------------------------------------------------- the paper's table
GRID_SAMPLERS = ('ConstantTemperature',)
#: ``<run>.crashed-N``: a crashed attempt the τ study moved aside before redoing ``<run>``
CRASHED_NAME = re.compile(r'\.crashed-\d+$')
COLUMNS = ('run', 'group', 'metric', 'train_flops', 'infer_flops_per_image', 'kwh_it', 'kwh',
           'co2_g', 'finished', 'energy_methods')
HEADERS = ('run', 'group', 'metric', 'train FLOPs', 'inference FLOPs/img', 'kWh (IT)',
           'kWh (with PUE)', 'g CO2-eq', 'finished', 'energy methods')


def sampler_type(totals: dict) -> Optional[str]:
    info = totals.get('run_info') or {}
    for key in ('sampler', 'temperature'):
        if isinstance(info.get(key), dict) and info[key].get('type'):
            return info[key]['type']
    return None


def classify_run(run_dir: str, totals: dict, grid_glob: Optional[str] = None) -> str:
    """``'grid'`` (fixed τ: a grid-search member), ``'stochastic'``, ``'other'`` or ``'crashed'``
    (a ``<run>.crashed-N`` folder: an attempt the τ study moved aside and redid; listed, never
    part of the grid total or a ratio).

    With ``grid_glob`` the run folder's name decides (fnmatch); otherwise the sampler recorded in
    the run's ``start`` line: ``ConstantTemperature`` -> grid, any other sampler -> stochastic.
    """
    import fnmatch
    name = osp.basename(osp.normpath(run_dir))
    if CRASHED_NAME.search(name):
        return 'crashed'
    if grid_glob is not None:
        return 'grid' if fnmatch.fnmatch(name, grid_glob) else (
            'stochastic' if sampler_type(totals) not in (None,) + GRID_SAMPLERS else 'other')
    kind = sampler_type(totals)
    if kind is None:
        return 'other'
    return 'grid' if kind in GRID_SAMPLERS else 'stochastic'


def metric_text(metric: Optional[dict], key: Optional[str] = None) -> str:
    if not metric:
        return ''
    if key is None:
        key = next(iter(metric))
    value = metric.get(key)
    return f'{key}={value:.4g}' if isinstance(value, (int, float)) else f'{key}={value}'


def _row(run, group, totals, metric_key):
    return dict(run=run, group=group, metric=metric_text(totals.get('metric'), metric_key),
                train_flops=totals.get('train_flops'),
                infer_flops_per_image=totals.get('infer_flops_per_image'),
                kwh_it=totals['energy_kwh_it'], kwh=totals['energy_kwh'], co2_g=totals['co2_g'],
                finished='yes' if totals.get('finished') else 'NO',
                energy_methods=methods_text(totals.get('components') or {}))


def run_names(run_dirs) -> List[str]:
    """Display names: the folder name, or as many parent folders as make it unique
    (``a/run`` and ``b/run``)."""
    parts = [osp.abspath(d).rstrip(os.sep).split(os.sep) for d in run_dirs]
    depth = [1] * len(parts)
    while True:
        names = ['/'.join(p[-k:]) for p, k in zip(parts, depth)]
        clash = {n for n in names if names.count(n) > 1}
        if not clash or all(k >= len(p) for p, k, n in zip(parts, depth, names) if n in clash):
            return names
        depth = [k + 1 if n in clash and k < len(p) else k
                 for p, k, n in zip(parts, depth, names)]


class UnfinishedRunsError(ValueError):
    """A grid/stochastic ratio would compare runs of which some did not finish."""


def build_table(run_dirs, grid_glob: Optional[str] = None, metric_key: Optional[str] = None,
                allow_unfinished: bool = False, notes: Optional[List[str]] = None):
    """Rows of the paper's table: every run, then ``grid total`` (the grid runs summed), and for
    each stochastic run a ``ratio grid/<run>`` row (grid total divided by that run).

    Returns ``(rows, runs)``, ``runs`` = ``[(name, group, totals, run_dir)]``. A ratio involving
    an unfinished run (crashed, killed, still running) raises :class:`UnfinishedRunsError`
    unless ``allow_unfinished``; then its row is named ``... (UNFINISHED runs)``.

    ``notes``: a list to collect, per folder, what was skipped (a folder without readable
    records, the bad lines of a ``carbon.jsonl``) instead of raising; ``<run>.crashed-N`` folders
    are listed as ``crashed`` rows. A ``ValueError`` names every folder when none is readable."""
    runs, unreadable = [], []
    for name, run_dir in zip(run_names(run_dirs), run_dirs):
        try:
            records, bad_lines = load_run_records_checked(run_dir)
        except OSError as err:     # no carbon.jsonl, or an unreadable one
            if notes is None:
                raise
            unreadable.append(f'{run_dir}: skipped ({err})')
            continue
        if bad_lines and notes is not None:
            notes.append(bad_lines)
        totals = aggregate(records)
        group = classify_run(run_dir, totals, grid_glob)
        if group == 'crashed' and notes is not None:
            redone = CRASHED_NAME.sub('', osp.normpath(run_dir))
            notes.append(f'{run_dir}: a crashed attempt moved aside by the tau study (redone in '
                         f'{redone}): listed as "crashed", not counted in the grid total or any '
                         'ratio')
        runs.append((name, group, totals, run_dir))
    if notes is not None:
        notes[:0] = unreadable
        if not runs:
            raise ValueError('no run folder with readable carbon records: ' + '; '.join(
                unreadable))
    order = {'grid': 0, 'stochastic': 1, 'other': 2, 'crashed': 3}
    runs.sort(key=lambda r: (order[r[1]], r[0]))
    rows = [_row(name, group, totals, metric_key) for name, group, totals, _ in runs]
    grid = [r for r in rows if r['group'] == 'grid']
    out = list(rows)
    if grid:
        total = dict(run=f'grid total ({len(grid)} runs)', group='grid total', metric='',
                     infer_flops_per_image=None,
                     finished='yes' if all(r['finished'] == 'yes' for r in grid) else 'NO')
        for key in ('train_flops', 'kwh_it', 'kwh', 'co2_g'):
            values = [r[key] for r in grid]
            total[key] = None if any(v is None for v in values) else sum(values)
        out.insert(len(grid), total)
        for r in rows:
            if r['group'] != 'stochastic':
                continue
            unfinished = [g['run'] for g in grid + [r] if g['finished'] != 'yes']
            if unfinished and not allow_unfinished:
                raise UnfinishedRunsError(
                    f'ratio grid/{r["run"]}: run(s) {", ".join(unfinished)} did not finish (no '
                    f'`final` line in carbon/carbon.jsonl: crashed, killed or still running), so '
                    f'the ratio would compare incomplete totals. Resume or rerun them, or pass '
                    f'--allow-unfinished (allow_unfinished=True) to compute it anyway, marked.')
            ratio = dict(run=f'ratio grid/{r["run"]}' + (' (UNFINISHED runs)' if unfinished
                                                         else ''),
                         group='ratio', metric='', infer_flops_per_image=None)
            for key in ('train_flops', 'kwh_it', 'kwh', 'co2_g'):
                ratio[key] = (total[key] / r[key]) if total[key] is not None and r[key] else None
            out.append(ratio)
    return out, runs


def _fmt(key, value) -> str:
    if value is None:
        return ''
    if isinstance(value, str):
        return value
    if key in ('train_flops', 'infer_flops_per_image'):
        return f'{value:.4g}'
    return f'{value:.4g}'


def table_markdown(rows) -> str:
    lines = ['| ' + ' | '.join(HEADERS) + ' |', '|' + '---|' * len(HEADERS)]
    for r in rows:
        cells = [_fmt(k, r.get(k)) for k in COLUMNS]
        if r['group'] == 'ratio':
            cells = [c + ('x' if c and k not in ('run', 'group') else '') for k, c in
                     zip(COLUMNS, cells)]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines) + '\n'


def table_csv(rows, path: str) -> None:
    import csv
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow(['' if r.get(k) is None else r.get(k) for k in COLUMNS])
