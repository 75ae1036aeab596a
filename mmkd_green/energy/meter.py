"""A framework-free energy / carbon meter: ``start``, ``epoch_start``, ``epoch_end``, ``stop``.

    meter = EnergyMeter(pue=1.67, carbon_intensity=475.0)
    meter.start()
    for epoch in range(n):
        meter.epoch_start()
        train_one_epoch()
        record = meter.epoch_end(train_flops=..., iters=...)   # dict, see below
    meter.stop()
    meter.totals()            # {'energy_kwh_it', 'energy_kwh', 'co2_g', 'seconds', ...}

Records cover contiguous segments: each ``epoch_end`` covers the time since the previous
``epoch_end`` (or ``start``), i.e. the epoch plus whatever ran before it (validation,
checkpointing); ``stop`` returns the ``final`` segment after the last epoch. Their sum is the whole
metered run. Each record holds, per component (``gpu``, ``cpu``, ``dram``), ``energy_j``, the
``method`` (``measured`` / ``estimated`` / ``unavailable``) and a ``detail``, then::

    energy_j_it   = Σ components (J)          energy_kwh_it = energy_j_it / 3.6e6
    energy_kwh    = pue * energy_kwh_it       co2_g         = energy_kwh * carbon_intensity

Sources (:mod:`.sources`): NVML for the CUDA devices this process uses; RAPL for CPU package and
DRAM (host-wide); when RAPL is unreadable, the CPU estimate from this process's CPU time, clearly
labelled ``estimated`` (DRAM is then ``unavailable``, never a silent 0). A source that fails is
reported once through ``logger`` and its component is ``energy_j = None`` (``measured: false``).

DDP (torch.distributed initialised before :meth:`start`): every rank meters its own GPU and its own
CPU-time estimate; host counters (RAPL) are read by the lowest rank of each host only; every
``epoch_end``/``stop`` is a collective that sums the ranks' records on rank 0 (other ranks get
their local record). Call them on every rank in the same order.

Nothing here opens a network connection unless ``live_intensity`` is given (opt-in, with a
timeout); carbontracker is used only for its data tables.
"""
import logging
import socket
import threading
import time
from datetime import datetime, timezone
from typing import Dict, List, Optional, Sequence, Union

from .distributed import dist_state, gather_to_rank0, is_host_leader
from .settings import (DEFAULT_PUE, JOULES_PER_KWH, check_pue, fetch_live_intensity,
                       resolve_intensity)
from .sources import NvmlGpuSource, ProcessCpuEstimate, RaplSource, SourceUnavailable
from .sources.cpu_power import per_core_power
from .sources.dram_estimate import ResidentMemoryDramEstimate, check_w_per_gb
from .tau_stats import TauStats

DEFAULT_RAPL_ROOT = '/sys/class/powercap'
SUMMED_KEYS = ('train_flops', 'extra_train_flops', 'iters', 'samples', 'flops_counted_iters')


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec='seconds')


class EnergyMeter:
    """Energy, carbon and time of a training run, per segment (epoch) and in total.

    Args:
        pue (float): power usage effectiveness, >= 1. Default 1.67 (Uptime Institute 2019).
        carbon_intensity (float, optional): g CO2-eq/kWh. Default: 475.0, the IEA world average.
        country (str, optional): ISO alpha-2 code looked up in carbontracker's table instead.
        live_intensity (dict, optional): opt-in network lookup at start,
            ``dict(zone='DK-DK1', token='...', timeout_s=5.0[, url=...])`` (Electricity Maps API);
            on any failure the static value is kept and the reason logged.
        cpu_power_per_core_w (float, optional): W per busy core for the CPU-time estimate
            (default: carbontracker's TDP table, else 10 W; see :mod:`.sources.cpu_power`).
        gpu_devices: ``'auto'`` (the current CUDA device when CUDA is initialised, else none),
            a list of CUDA indices, or ``None``/``[]`` for no GPU metering.
        rapl_root (str): powercap directory (tests point it at a fixture).
        poll_interval_s (float): background polling period (RAPL wrap tracking, NVML sampling).
        host_leader (bool, optional): force whether this process reads host counters
            (default: the lowest rank of each host).
        logger: a ``logging.Logger`` (mmengine's MMLogger works).
    """

    def __init__(self, pue: float = DEFAULT_PUE, carbon_intensity: Optional[float] = None,
                 country: Optional[str] = None, live_intensity: Optional[dict] = None,
                 cpu_power_per_core_w: Optional[float] = None,
                 gpu_devices: Union[str, Sequence[int], None] = 'auto',
                 rapl_root: str = DEFAULT_RAPL_ROOT, poll_interval_s: float = 1.0,
                 host_leader: Optional[bool] = None, logger: Optional[logging.Logger] = None,
                 dram_w_per_gb: Optional[float] = None):
        self.pue = check_pue(pue)
        self.dram_w_per_gb = None if dram_w_per_gb is None else check_w_per_gb(dram_w_per_gb)
        self.carbon_intensity, self.intensity_source = resolve_intensity(carbon_intensity, country)
        if live_intensity is not None:
            if not isinstance(live_intensity, dict) or not isinstance(live_intensity.get('zone'), str):
                raise ValueError('`live_intensity` must be a dict with a `zone` (e.g. '
                                 'dict(zone="DK-DK1", token="...", timeout_s=5.0)), got '
                                 f'{live_intensity!r}')
            unknown = set(live_intensity) - {'zone', 'token', 'timeout_s', 'url'}
            if unknown:
                raise ValueError(f'`live_intensity` has unknown keys {sorted(unknown)}; allowed: '
                                 'zone, token, timeout_s, url')
        self.live_intensity = live_intensity
        if cpu_power_per_core_w is not None:
            per_core_power(cpu_power_per_core_w)   # validates
        self.cpu_power_per_core_w = cpu_power_per_core_w
        if not (gpu_devices in ('auto', None) or (isinstance(gpu_devices, (list, tuple)) and
                                                  all(isinstance(d, int) for d in gpu_devices))):
            raise ValueError(f'`gpu_devices` must be "auto", None or a list of CUDA indices, got '
                             f'{gpu_devices!r}')
        self.gpu_devices = gpu_devices
        if not (isinstance(poll_interval_s, (int, float)) and poll_interval_s > 0):
            raise ValueError(f'`poll_interval_s` must be > 0 s, got {poll_interval_s!r}')
        self.rapl_root, self.poll_interval_s = rapl_root, float(poll_interval_s)
        self.host_leader = host_leader
        self.logger = logger or logging.getLogger('mmkd_green.energy')
        self.records: List[dict] = []
        self.sources = []
        self.components: Dict[str, dict] = {}
        self._warned = set()
        self._started = self._stopped = False
        self._segment = 0
        self._poller = None
        self._stop_event = threading.Event()

    # ------------------------------------------------------------------ helpers
    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.logger.warning(f'[energy] {message}')

    def _gpu_indices(self) -> List[int]:
        if self.gpu_devices is None:
            return []
        if self.gpu_devices != 'auto':
            return list(self.gpu_devices)
        try:
            import torch
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                return [torch.cuda.current_device()]
        except Exception:
            pass
        return []

    def _add(self, source, components=None) -> None:
        self.sources.append(source)
        for comp in components or source.components:
            self.components[comp] = dict(method=source.method, detail=source.detail,
                                         scope=source.scope, source=source)

    def _open_sources(self) -> None:
        gpus = self._gpu_indices()
        if gpus:
            source = NvmlGpuSource(gpus)
            try:
                source.open()
                self._add(source)
            except SourceUnavailable as err:
                self._warn_once('gpu', f'GPU energy not measured: {err}')
                self.components['gpu'] = dict(method='unavailable', detail=str(err),
                                              scope='device', source=None)
        rapl = RaplSource(self.rapl_root)
        try:
            rapl.open()
        except SourceUnavailable as err:
            rapl = None
            estimate = ProcessCpuEstimate(self.cpu_power_per_core_w)
            estimate.open()
            self._add(estimate)
            dram = ('DRAM energy is not measured.' if self.dram_w_per_gb is None
                    else 'DRAM energy is ESTIMATED from resident memory.')
            self._warn_once('rapl', f'{err}. CPU energy is ESTIMATED instead: {estimate.detail}; '
                                    + dram)
            self.components['dram'] = dict(
                method='unavailable', detail=f'no readable RAPL dram zone ({err})',
                scope='host', source=None)
            self._dram_estimate()
        if rapl is not None:
            if self._leader:
                self._add(rapl)
            else:
                for comp in rapl.components:
                    self.components[comp] = dict(method=rapl.method, scope='host', source=None,
                                                 detail='host counters read by the host\'s '
                                                        'lowest rank')
                    self.components[comp]['fixed_zero'] = True
            if 'dram' not in rapl.components:
                self.components['dram'] = dict(method='unavailable', scope='host', source=None,
                                               detail=f'no RAPL dram zone under {self.rapl_root}')
                self._dram_estimate()

    def _dram_estimate(self) -> None:
        """Opt-in (``dram_w_per_gb``): DRAM estimated from resident memory instead of unavailable."""
        if self.dram_w_per_gb is None:
            return
        source = ResidentMemoryDramEstimate(self.dram_w_per_gb)
        try:
            source.open()
        except SourceUnavailable as err:
            self._warn_once('dram', f'DRAM estimate unavailable: {err}')
            return
        self._add(source)

    def _read_all(self) -> Dict[str, Optional[float]]:
        out: Dict[str, Optional[float]] = {}
        for source in self.sources:
            try:
                out.update(source.read())
            except Exception as err:   # a failing source never stops training
                self._warn_once(f'read:{id(source)}', f'reading {type(source).__name__} '
                                                      f'failed ({err!r}); its energy is reported '
                                                      'as unmeasured')
                for comp in source.components:
                    out[comp] = None
        for comp, info in self.components.items():
            if info.get('fixed_zero'):
                out[comp] = 0.0
        return out

    def _poll_loop(self) -> None:
        while not self._stop_event.wait(self.poll_interval_s):
            for source in list(self.sources):
                try:
                    source.poll()
                except Exception as err:
                    self._warn_once(f'poll:{id(source)}', f'polling {type(source).__name__} '
                                                          f'failed ({err!r})')

    # ------------------------------------------------------------------ API
    def start(self) -> 'EnergyMeter':
        """Open the sources and take the baseline (collective under DDP)."""
        if self._started:
            raise RuntimeError('EnergyMeter.start() called twice')
        _, self.rank, self.world_size = dist_state()
        self.hostname = socket.gethostname()
        leader = is_host_leader()
        self._leader = leader if self.host_leader is None else bool(self.host_leader)
        self._open_sources()
        if self.live_intensity is not None:
            cfg = dict(self.live_intensity)
            try:
                self.carbon_intensity = fetch_live_intensity(
                    cfg['zone'], cfg.get('token'), cfg.get('timeout_s', 5.0),
                    **({'url': cfg['url']} if 'url' in cfg else {}))
                self.intensity_source = f'live, Electricity Maps zone {cfg["zone"]}'
            except Exception as err:
                self._warn_once('live', f'live carbon intensity lookup failed ({err!r}); using '
                                        f'{self.carbon_intensity} g/kWh ({self.intensity_source})')
        self._last = self._read_all()
        self._t_last = self._t_start = time.time()
        self._t_epoch = None
        self._started = True
        if any(type(s).poll is not ProcessCpuEstimate.poll for s in self.sources):
            self._poller = threading.Thread(target=self._poll_loop, name='energy-meter-poll',
                                            daemon=True)
            self._poller.start()
        return self

    def epoch_start(self) -> None:
        self._t_epoch = time.time()

    def epoch_end(self, **extra) -> dict:
        """Close a segment; returns the ranks' summed record on rank 0 (local record elsewhere).

        ``extra``: ``train_flops``, ``iters``, ``samples``, ``flops_counted_iters`` (summed over
        ranks), ``tau`` (a :class:`TauStats` summary, merged) and any JSON-able fields (rank 0's).
        """
        return self._segment_record('epoch', extra)

    def stop(self, **extra) -> Optional[dict]:
        """Close the final segment and the sources; returns its record (``None`` if stopped)."""
        if self._stopped or not self._started:
            return None
        record = self._segment_record('final', extra)
        self._stopped = True
        self._stop_event.set()
        if self._poller is not None:
            self._poller.join(timeout=5)
        for source in self.sources:
            try:
                source.close()
            except Exception:
                pass
        return record

    def _local_record(self, extra: dict) -> dict:
        now = time.time()
        readings = self._read_all()
        comps = {}
        for comp, info in self.components.items():
            cur, last = readings.get(comp), self._last.get(comp)
            energy = None if cur is None or last is None else cur - last
            comps[comp] = dict(energy_j=energy, method=info['method'], detail=info['detail'])
            if cur is not None:
                self._last[comp] = cur
        record = dict(rank=self.rank, host=self.hostname, seconds=now - self._t_last,
                      train_seconds=None if self._t_epoch is None else now - self._t_epoch,
                      components=comps, **extra)
        self._t_last, self._t_epoch = now, None
        return record

    def _segment_record(self, kind: str, extra: dict) -> dict:
        if not self._started:
            raise RuntimeError('EnergyMeter: call start() first')
        try:
            local = self._local_record(extra)
        except Exception as err:   # keep the collective below reachable on every rank
            self._warn_once('segment', f'energy segment failed ({err!r}); marked unmeasured')
            local = dict(rank=self.rank, host=getattr(self, 'hostname', '?'), seconds=None,
                         train_seconds=None, components={}, error=repr(err), **extra)
        gathered = gather_to_rank0(local)
        self._segment += 1
        if gathered is None:
            return local
        record = self.combine(gathered, kind, self._segment)
        self.records.append(record)
        return record

    def combine(self, parts: List[dict], kind: str = 'epoch', segment: int = 0) -> dict:
        """Sum per-rank records into one record and convert to kWh and g CO2."""
        comps: Dict[str, dict] = {}
        measured = not any('error' in p for p in parts)
        for part in parts:
            for comp, c in part['components'].items():
                slot = comps.setdefault(comp, dict(energy_j=None, method=set(), detail=[]))
                slot['method'].add(c['method'])
                if c['detail'] not in slot['detail']:
                    slot['detail'].append(c['detail'])
                if c['energy_j'] is None:
                    # expected gaps (DRAM without RAPL) keep the record measured; a GPU in use
                    # without NVML or a source that failed does not
                    if c['method'] != 'unavailable' or comp == 'gpu':
                        measured = False
                else:
                    slot['energy_j'] = (slot['energy_j'] or 0.0) + c['energy_j']
        for comp, slot in comps.items():
            methods = slot['method']
            slot['method'] = methods.pop() if len(methods) == 1 else 'mixed:' + '+'.join(sorted(methods))
            slot['detail'] = '; '.join(slot['detail'])
        energy_j = sum(c['energy_j'] for c in comps.values() if c['energy_j'] is not None)
        kwh_it = energy_j / JOULES_PER_KWH
        kwh = kwh_it * self.pue
        seconds = [p['seconds'] for p in parts if p.get('seconds') is not None]
        train_s = [p['train_seconds'] for p in parts if p.get('train_seconds') is not None]
        record = dict(type=kind, segment=segment, time=_now_iso(),
                      seconds=max(seconds) if seconds else None,
                      train_seconds=max(train_s) if train_s else None,
                      components=comps, energy_j_it=energy_j, energy_kwh_it=kwh_it, pue=self.pue,
                      energy_kwh=kwh, carbon_intensity=self.carbon_intensity,
                      intensity_source=self.intensity_source, co2_g=kwh * self.carbon_intensity,
                      measured=measured, world_size=len(parts))
        for key in SUMMED_KEYS:
            values = [p.get(key) for p in parts]
            if any(v is not None for v in values):
                record[key] = None if any(v is None for v in values) else sum(values)
        if any('tau' in p for p in parts):
            record['tau'] = TauStats.merge(p.get('tau') for p in parts)
        skip = set(SUMMED_KEYS) | {'tau', 'rank', 'host', 'seconds', 'train_seconds', 'components',
                                   'error'}
        for key, value in parts[0].items():
            if key not in skip and key not in record:
                record[key] = value
        if not measured:
            record['errors'] = [p['error'] for p in parts if 'error' in p]
        if len(parts) > 1:
            record['ranks'] = [dict(rank=p['rank'], host=p['host'], seconds=p.get('seconds'),
                                    energy_j={c: v['energy_j'] for c, v in p['components'].items()})
                               for p in parts]
        return record

    def totals(self) -> dict:
        """Sums over the records this process holds (rank 0: the whole job)."""
        out = dict(energy_j_it=0.0, energy_kwh_it=0.0, energy_kwh=0.0, co2_g=0.0, seconds=0.0,
                   train_flops=0, segments=len(self.records),
                   unmeasured_segments=sum(not r['measured'] for r in self.records))
        for r in self.records:
            for key in ('energy_j_it', 'energy_kwh_it', 'energy_kwh', 'co2_g', 'seconds'):
                out[key] += r.get(key) or 0.0
            out['train_flops'] += r.get('train_flops') or 0
        return out

    def describe(self) -> dict:
        """The sources in use, for run summaries."""
        return dict(pue=self.pue, carbon_intensity=self.carbon_intensity,
                    intensity_source=self.intensity_source,
                    components={c: dict(method=i['method'], detail=i['detail'], scope=i['scope'])
                                for c, i in self.components.items()})
