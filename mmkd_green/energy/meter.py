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
labelled ``estimated`` (DRAM is then ``unavailable``, never a silent 0). Each component of a
record also names its ``source`` (``nvml``, ``nvml-mig-share``, ``rapl``, ``cpu-time``).

Faults (see :mod:`.sources.guard`): a source that cannot be opened makes its component
``unavailable`` with the reason (logged once); a reading that fails gives that segment's
component ``energy_j = None`` with an ``error`` (``measured: false``) and is retried at the next
:meth:`epoch_start` (and by the poller), so the following segment is measured again. Nothing
here raises into training once :meth:`start`'s collective is done, so every DDP rank reaches
every later collective. Durations use ``time.monotonic``; ``time`` stamps are UTC wall time.

DDP (torch.distributed initialised before :meth:`start`): every rank meters its own GPU and its own
CPU-time estimate; host counters (RAPL) are read by the lowest rank of each host only; every
``epoch_end``/``stop`` is a collective that sums the ranks' records on rank 0 (other ranks get
their local record). Call them on every rank in the same order.

Nothing here opens a network connection unless ``live_intensity`` is given (opt-in, with a
timeout); carbontracker is used only for its data tables.
"""
import logging
import os
import socket
import threading
import time
from datetime import datetime, timezone
from typing import Callable, Dict, List, Optional, Sequence, Union

from .distributed import dist_state, gather_to_rank0, is_host_leader
from .settings import (DEFAULT_PUE, DEFAULT_TOKEN_ENV, JOULES_PER_KWH, check_gpu_devices,
                       check_live_intensity, check_poll_interval, check_pue,
                       fetch_live_intensity, resolve_intensity)
from .sources import EnergySource, NvmlGpuSource, ProcessCpuEstimate, RaplSource
from .sources.cpu_power import per_core_power
from .sources.dram_estimate import ResidentMemoryDramEstimate, check_w_per_gb
from .sources.guard import open_source, reason
from .sources.nvml import MODES as NVML_MODES
from .tau_stats import TauStats

DEFAULT_RAPL_ROOT = '/sys/class/powercap'
SUMMED_KEYS = ('train_flops', 'extra_train_flops', 'iters', 'samples', 'flops_counted_iters')


def _cuda_not_yet_initialised() -> bool:
    try:
        import torch
        return torch.cuda.is_available() and not torch.cuda.is_initialized()
    except Exception:   # noqa: BLE001
        return False


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec='seconds')


class EnergyMeter:
    """Energy, carbon and time of a training run, per segment (epoch) and in total.

    Args:
        pue (float): power usage effectiveness, >= 1. Default 1.67 (Uptime Institute 2019).
        carbon_intensity (float, optional): g CO2-eq/kWh. Default: 475.0, the IEA world average.
        country (str, optional): ISO alpha-2 code looked up in carbontracker's table instead.
        live_intensity (dict, optional): opt-in network lookup at start,
            ``dict(zone='DK-DK1', token_env='ELECTRICITYMAPS_TOKEN', timeout_s=5.0[, url=...])``
            (Electricity Maps API; the token is read from that environment variable, never from
            the config); on any failure the static value is kept and the reason logged.
        cpu_power_per_core_w (float, optional): W per busy core for the CPU-time estimate
            (default: carbontracker's TDP table, else 10 W; see :mod:`.sources.cpu_power`).
        gpu_devices: ``'auto'`` (the current CUDA device if CUDA is initialised when the first
            epoch starts, else none), a callable returning CUDA indices (called then), a list of
            CUDA indices (opened at :meth:`start`), or ``None``/``[]`` for no GPU metering.
        gpu_mode (str): ``'auto'`` (energy counter, else power sampling), ``'counter'`` or
            ``'sampling'`` (see :class:`~.sources.NvmlGpuSource`).
        rapl_root (str): powercap directory (tests point it at a fixture).
        poll_interval_s (float): background polling period in [0.01, 60] s (RAPL wrap tracking,
            NVML power sampling, retries of failed readings).
        host_leader (bool, optional): force whether this process reads host counters
            (default: the lowest rank of each host).
        logger: a ``logging.Logger`` (mmengine's MMLogger works).
    """

    def __init__(self, pue: float = DEFAULT_PUE, carbon_intensity: Optional[float] = None,
                 country: Optional[str] = None, live_intensity: Optional[dict] = None,
                 cpu_power_per_core_w: Optional[float] = None,
                 gpu_devices: Union[str, Sequence[int], Callable, None] = 'auto',
                 gpu_mode: str = 'auto', rapl_root: str = DEFAULT_RAPL_ROOT,
                 poll_interval_s: float = 1.0, host_leader: Optional[bool] = None,
                 logger: Optional[logging.Logger] = None,
                 dram_w_per_gb: Optional[float] = None):
        self.pue = check_pue(pue)
        self.dram_w_per_gb = None if dram_w_per_gb is None else check_w_per_gb(dram_w_per_gb)
        self.carbon_intensity, self.intensity_source = resolve_intensity(carbon_intensity, country)
        self.live_intensity = check_live_intensity(live_intensity)
        if cpu_power_per_core_w is not None:
            per_core_power(cpu_power_per_core_w)   # validates
        self.cpu_power_per_core_w = cpu_power_per_core_w
        self.gpu_devices = check_gpu_devices(gpu_devices)
        if gpu_mode not in NVML_MODES:
            raise ValueError(f'`gpu_mode` must be one of {NVML_MODES}, got {gpu_mode!r}')
        self.gpu_mode = gpu_mode
        self.rapl_root, self.poll_interval_s = rapl_root, check_poll_interval(poll_interval_s)
        self.host_leader = host_leader
        self.logger = logger or logging.getLogger('mmkd_green.energy')
        self.records: List[dict] = []
        self.sources = []
        self.components: Dict[str, dict] = {}
        self._warned = set()
        self._started = self._stopped = False
        self._devices_open = False
        self._segment = 0
        self._poller = None
        self._stop_event = threading.Event()
        self._lock = threading.RLock()       # readings and baselines (main thread + poller)
        self._last: Dict[str, Optional[float]] = {}
        self._retry_pending = False

    # ------------------------------------------------------------------ helpers
    def _warn_once(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            self.logger.warning(f'[energy] {message}')

    def _gpu_indices(self) -> List[int]:
        devices = self.gpu_devices
        if callable(devices):
            devices = check_gpu_devices(devices())
        if not devices:
            return []
        if devices != 'auto':
            return list(devices)
        try:
            import torch
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                return [torch.cuda.current_device()]
        except Exception:   # noqa: BLE001
            pass
        return []

    def _add(self, source, components=None) -> None:
        self.sources.append(source)
        for comp in components or source.components:
            self.components[comp] = dict(method=source.method, detail=source.detail,
                                         scope=source.scope, source=source,
                                         via=getattr(source, 'source', None))

    def _unavailable(self, comp: str, why: str, scope: str, log: Optional[str] = None) -> None:
        self.components[comp] = dict(method='unavailable', detail=why, scope=scope, source=None,
                                     via=None)
        if log:
            self._warn_once(comp, log)

    def _open_sources(self) -> None:
        rapl = RaplSource(self.rapl_root)
        why = open_source(rapl)
        if why is not None:
            rapl = None
            estimate = ProcessCpuEstimate(self.cpu_power_per_core_w)
            estimate.open()
            self._add(estimate)
            dram = ('DRAM energy is not measured.' if self.dram_w_per_gb is None
                    else 'DRAM energy is ESTIMATED from resident memory.')
            self._warn_once('rapl', f'{why}. CPU energy is ESTIMATED instead: {estimate.detail}; '
                                    + dram)
            self._unavailable('dram', f'no readable RAPL dram zone ({why})', 'host')
            self._dram_estimate()
        if rapl is not None:
            if self._leader:
                self._add(rapl)
            else:
                for comp in rapl.components:
                    self.components[comp] = dict(method=rapl.method, scope='host', source=None,
                                                 via='rapl', fixed_zero=True,
                                                 detail='host counters read by the host\'s '
                                                        'lowest rank')
            if 'dram' not in rapl.components:
                self._unavailable('dram', f'no RAPL dram zone under {self.rapl_root}', 'host')
                self._dram_estimate()

    def _dram_estimate(self) -> None:
        """Opt-in (``dram_w_per_gb``): DRAM estimated from resident memory instead of unavailable."""
        if self.dram_w_per_gb is None:
            return
        source = ResidentMemoryDramEstimate(self.dram_w_per_gb)
        why = open_source(source)
        if why is not None:
            self._warn_once('dram', f'DRAM estimate unavailable: {why}')
            return
        self._add(source)

    def open_devices(self) -> None:
        """Resolve and open the GPUs (once). Called by :meth:`epoch_start`, i.e. when the first
        epoch starts and the model is on its device; a list of indices is opened at start.
        ``'auto'`` on a CUDA machine whose CUDA is not initialised yet asks again at every call
        (the upstream-CMI adapter calls it when upstream builds its criterion, after its models
        moved to the GPU); GPU energy counts from the call that opens the devices."""
        if self._devices_open or not self._started or self._stopped:
            return
        self._devices_open = True
        try:
            gpus = self._gpu_indices()
        except Exception as err:   # noqa: BLE001  (a bad callable, a CUDA error)
            self._unavailable('gpu', f'GPU devices could not be resolved ({reason(err)})',
                              'device', log=f'GPU energy not measured: the devices could not be '
                                            f'resolved ({reason(err)})')
            return
        if not gpus:
            if self.gpu_devices == 'auto' and _cuda_not_yet_initialised():
                self._devices_open = False      # CUDA may come later: ask again next time
            return
        source = NvmlGpuSource(gpus, mode=self.gpu_mode)
        why = open_source(source)
        if why is not None:
            self._unavailable('gpu', why, 'device', log=f'GPU energy not measured: {why}')
            return
        with self._lock:
            self._add(source)
            readings, _ = self._read_sources([source])
            self._last.update(readings)
            self._retry_pending = self._retry_pending or readings.get('gpu') is None
        self._start_poller()
        if source.method != 'measured':
            self._warn_once('gpu-method', f'GPU energy is {source.method.upper()}: {source.detail}')

    def _read_sources(self, sources=None):
        """``({component: cumulative J or None}, {component: why it failed})``."""
        out: Dict[str, Optional[float]] = {}
        errors: Dict[str, str] = {}
        for source in self.sources if sources is None else sources:
            try:
                out.update(source.read())
            except Exception as err:   # a failing source never stops training
                why = reason(err)
                self._warn_once(f'read:{id(source)}', f'reading {type(source).__name__} failed '
                                                      f'({why}); its energy is reported as '
                                                      'unmeasured and it is read again next epoch')
                for comp in source.components:
                    out[comp], errors[comp] = None, why
        for comp, info in self.components.items():
            if info.get('fixed_zero'):
                out[comp] = 0.0
        return out, errors

    def _retry(self) -> None:
        """Take a new baseline for components whose last reading failed."""
        with self._lock:
            if not self._retry_pending:
                return
            stale = [s for s in self.sources
                     if any(self._last.get(c) is None for c in s.components)]
            readings, errors = self._read_sources(stale)
            for comp, value in readings.items():
                if value is not None and self._last.get(comp) is None:
                    self._last[comp] = value
            self._retry_pending = bool(errors)

    def _poll_loop(self) -> None:
        while not self._stop_event.wait(self.poll_interval_s):
            for source in list(self.sources):
                try:
                    source.poll()
                except Exception as err:   # noqa: BLE001
                    self._warn_once(f'poll:{id(source)}', f'polling {type(source).__name__} '
                                                          f'failed ({reason(err)})')
            if self._retry_pending:
                try:
                    self._retry()
                except Exception:   # noqa: BLE001
                    pass

    # ------------------------------------------------------------------ API
    def start(self) -> 'EnergyMeter':
        """Open the sources and take the baseline (collective under DDP; never raises once the
        collective is done, so every rank keeps taking part in the later ones)."""
        if self._started:
            raise RuntimeError('EnergyMeter.start() called twice')
        _, self.rank, self.world_size = dist_state()
        self.hostname = socket.gethostname()
        leader = is_host_leader()            # the collective, first
        self._leader = leader if self.host_leader is None else bool(self.host_leader)
        self._t_last = self._t_start = time.monotonic()
        self._t_epoch = None
        self._started = True
        try:
            self._open_sources()
        except Exception as err:   # noqa: BLE001  (a bug or an odd machine: meter nothing)
            self._warn_once('start', f'opening the energy sources failed ({reason(err)}); CPU '
                                     'and DRAM energy are not measured in this run')
            for comp in ('cpu', 'dram'):
                self.components.setdefault(comp, dict(method='unavailable', source=None,
                                                      via=None, scope='host',
                                                      detail=f'opening failed: {reason(err)}'))
        if self.live_intensity is not None:
            self._fetch_live_intensity()
        with self._lock:
            self._last, errors = self._read_sources()
            self._retry_pending = bool(errors)
        if isinstance(self.gpu_devices, list):
            self.open_devices()
        self._start_poller()
        return self

    def _start_poller(self) -> None:
        """Start the background poll thread once a source needs polling (RAPL wrap, GPU power
        sampling, resident memory); a meter of process CPU time alone has none, and its failed
        readings are retried when the next epoch starts."""
        if self._poller is None and not self._stopped and any(
                type(s).poll is not EnergySource.poll for s in self.sources):
            self._poller = threading.Thread(target=self._poll_loop, name='energy-meter-poll',
                                            daemon=True)
            self._poller.start()

    def _fetch_live_intensity(self) -> None:
        cfg = self.live_intensity
        token = os.environ.get(cfg.get('token_env', DEFAULT_TOKEN_ENV))
        try:
            self.carbon_intensity = fetch_live_intensity(
                cfg['zone'], token, cfg.get('timeout_s', 5.0),
                **({'url': cfg['url']} if 'url' in cfg else {}))
            self.intensity_source = f'live, Electricity Maps zone {cfg["zone"]}'
        except Exception as err:   # noqa: BLE001
            self._warn_once('live', f'live carbon intensity lookup failed ({type(err).__name__}); '
                                    f'using {self.carbon_intensity} g/kWh '
                                    f'({self.intensity_source})')

    def epoch_start(self) -> None:
        """Mark the start of training in this segment; opens the GPUs on the first call and
        retries readings that failed at the last segment end."""
        self._t_epoch = time.monotonic()
        if not self._devices_open:
            self.open_devices()
        if self._retry_pending:
            try:
                self._retry()
            except Exception:   # noqa: BLE001
                pass

    def epoch_end(self, **extra) -> dict:
        """Close a segment; returns the ranks' summed record on rank 0 (local record elsewhere).

        ``extra``: ``train_flops``, ``iters``, ``samples``, ``flops_counted_iters`` (summed over
        ranks), ``tau`` (a :class:`TauStats` summary, merged) and any JSON-able fields (rank 0's).
        """
        return self._segment_record('epoch', extra)

    def stop(self, **extra) -> Optional[dict]:
        """Close the final segment and the sources; returns its record (``None`` if stopped).

        ``finished`` (default True) says whether the run ended normally; a caller closing the
        meter after an exception passes ``finished=False``."""
        if self._stopped or not self._started:
            return None
        extra.setdefault('finished', True)
        try:
            record = self._segment_record('final', extra)
        finally:
            self._stopped = True
            self._stop_event.set()
            if self._poller is not None:
                self._poller.join(timeout=5)
            for source in self.sources:
                try:
                    source.close()
                except Exception:   # noqa: BLE001
                    pass
        return record

    def _local_record(self, extra: dict) -> dict:
        now = time.monotonic()
        comps = {}
        with self._lock:
            readings, errors = self._read_sources()
            for comp, info in self.components.items():
                cur, last = readings.get(comp), self._last.get(comp)
                energy = None if cur is None or last is None else cur - last
                entry = dict(energy_j=energy, method=info['method'], detail=info['detail'],
                             source=info.get('via'))
                if energy is None and info['method'] != 'unavailable':
                    entry['error'] = errors.get(comp) or (
                        'no baseline: the reading at the previous segment end failed and no '
                        'retry has succeeded since')
                    self._retry_pending = True
                comps[comp] = entry
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
            self._warn_once('segment', f'energy segment failed ({reason(err)}); marked '
                                       'unmeasured')
            local = dict(rank=self.rank, host=getattr(self, 'hostname', '?'), seconds=None,
                         train_seconds=None, components={}, error=reason(err), **extra)
        gathered = gather_to_rank0(local)
        self._segment += 1
        if not self._devices_open and kind == 'epoch':
            self.open_devices()      # no epoch_start() call: the GPUs count from the next one
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
                slot = comps.setdefault(comp, dict(energy_j=None, method=set(), detail=[],
                                                   source=set(), error=[]))
                slot['method'].add(c['method'])
                if c.get('source'):
                    slot['source'].add(c['source'])
                if c['detail'] not in slot['detail']:
                    slot['detail'].append(c['detail'])
                if c.get('error'):
                    slot['error'].append(c['error'] if len(parts) == 1 else
                                         f'rank {part.get("rank")}: {c["error"]}')
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
            slot['source'] = '+'.join(sorted(slot['source'])) or None
            if slot['error']:
                slot['error'] = '; '.join(slot['error'])
            else:
                del slot['error']
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
                    components={c: dict(method=i['method'], source=i.get('via'),
                                        detail=i['detail'], scope=i['scope'])
                                for c, i in self.components.items()})
