"""The one writer of a run's ``<work_dir>/carbon/`` folder, shared by
:class:`~.hook.CarbonFootprintHook` and the upstream-CMI adapter
(:mod:`mmkd_green.dfkd.upstream_cmi`), so both write the same lines in the same format:

* ``start``: ``session``, ``meter`` (:meth:`EnergyMeter.describe`: each component's method,
  source and detail, or why it is unavailable) and ``run_info``;
* segment lines (``epoch``/``final``) as :meth:`EnergyMeter.epoch_end` / ``stop`` return them;
* ``val``: ``session``, ``epoch``, ``metrics`` and any extra fields;
* ``summary.json``: ``totals`` (:func:`~.report.aggregate` of the jsonl, torn lines skipped),
  ``meter``, ``run_info``, ``session``, ``torn_lines``.

Lines are appended (written before the call returns) and fsynced by a background thread
(:func:`~.records.append_record`); the summary is replaced atomically (a file derived from the
lines: fsynced in the background too). Rank 0 alone writes (the callers check).
"""
import os.path as osp
from typing import Optional

from .records import append_record, read_records, write_json_atomic
from .report import CARBON_DIR, JSONL_NAME, SUMMARY_NAME, aggregate


class CarbonRecords:
    """Args: work_dir (str): the run folder; session (str): this attempt's id (a resumed run
    appends a new session to the same file)."""

    def __init__(self, work_dir: str, session: str):
        self.folder = osp.join(work_dir, CARBON_DIR)
        self.jsonl = osp.join(self.folder, JSONL_NAME)
        self.summary_path = osp.join(self.folder, SUMMARY_NAME)
        self.session = session

    def start(self, meter, run_info: Optional[dict] = None) -> None:
        append_record(self.jsonl, dict(type='start', session=self.session,
                                       meter=meter.describe(), run_info=run_info))

    def segment(self, record: dict) -> None:
        record.setdefault('session', self.session)
        append_record(self.jsonl, record)

    def val(self, epoch, metrics: Optional[dict], **extra) -> None:
        append_record(self.jsonl, dict(type='val', session=self.session, epoch=epoch,
                                       metrics=metrics, **extra))

    def summary(self, meter, run_info: Optional[dict] = None, extra=None) -> dict:
        """Write ``summary.json`` from every line on disk; returns the totals. ``extra(records,
        totals)`` may add fields (e.g. the run's cost prediction and its error)."""
        records, torn = read_records(self.jsonl)
        totals = aggregate(records)
        doc = dict(totals=totals, meter=meter.describe(), run_info=run_info,
                   session=self.session, torn_lines=torn)
        if extra is not None:
            doc.update(extra(records, totals))
        write_json_atomic(self.summary_path, doc, derived=True)   # rebuilt from the jsonl
        return totals
