"""The paper's table (metric, FLOPs, kWh, g CO2) and plots for one or more run folders.

    python tools/carbon_report.py work_dirs/tau_* work_dirs/stochastic --out reports/carbon

Runs trained with ``ConstantTemperature`` (or whose folder name matches ``--group-by-glob``) form
the grid-search group; the table sums them (``grid total``) and divides that by every stochastic
run (``ratio grid/<run>``); it refuses to compute a ratio from a run that did not finish (no
``final`` line: crashed, killed, still running) unless ``--allow-unfinished``. The table shows,
per run, whether it finished and how each energy component was obtained (measured by NVML/RAPL,
estimated, unavailable). Runs whose folders have the same name are told apart by their parent
folders. Each folder is read on its own: one without readable records (e.g. crashed before the
meter started) is skipped and named on stderr, bad lines of a ``carbon.jsonl`` (not UTF-8, not
JSON, ``null``, a number stored as text) are skipped and named, and ``<run>.crashed-N`` folders
(attempts the τ study moved aside) are listed as ``crashed``, outside the grid total and the
ratios. Writes ``carbon_report.md``, ``carbon_report.csv``,
``energy_per_epoch.png``, ``cumulative_co2.png`` and ``tau_histogram.png`` to ``--out``.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('run_dirs', nargs='+', help='work_dirs of runs metered by '
                        'CarbonFootprintHook (finished or crashed)')
    parser.add_argument('--out', default='carbon_report', help='output folder')
    parser.add_argument('--group-by-glob', metavar='PATTERN', default=None,
                        help='run folder names matching this fnmatch pattern form the grid group '
                             '(default: runs whose sampler is ConstantTemperature)')
    parser.add_argument('--metric', default=None,
                        help='metric key shown (default: the first of the last validation)')
    parser.add_argument('--allow-unfinished', action='store_true',
                        help='compute grid/stochastic ratios even when a run did not finish '
                             '(the ratio row is marked UNFINISHED)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmkd_green.energy.plots import plot_all
    from mmkd_green.energy.report import (UnfinishedRunsError, build_table, load_run_records,
                                          table_csv, table_markdown)
    notes = [f'{d}: skipped (not a folder)' for d in args.run_dirs if not osp.isdir(d)]
    folders = [d for d in args.run_dirs if osp.isdir(d)]
    if not folders:
        raise ValueError(f'carbon_report: no run folder among {", ".join(args.run_dirs)}')
    try:
        rows, runs = build_table(folders, args.group_by_glob, args.metric,
                                 allow_unfinished=args.allow_unfinished, notes=notes)
    except UnfinishedRunsError as err:
        raise SystemExit(f'carbon_report: {err}')
    finally:
        for note in notes:     # per folder: what was skipped, before the table or the error
            print(f'carbon_report: {note}', file=sys.stderr)
    os.makedirs(args.out, exist_ok=True)
    markdown = table_markdown(rows)
    with open(osp.join(args.out, 'carbon_report.md'), 'w') as f:
        f.write(markdown)
    table_csv(rows, osp.join(args.out, 'carbon_report.csv'))
    series = [(name, load_run_records(run_dir)) for name, _, _, run_dir in runs]
    plot_all(series, args.out, grid_names={name for name, group, _, _ in runs if group == 'grid'})
    print(markdown)
    print(f'written to {args.out}: carbon_report.md, carbon_report.csv, energy_per_epoch.png, '
          'cumulative_co2.png, tau_histogram.png')
    return rows


if __name__ == '__main__':
    from mmkd_green.utils.cli import run_cli
    run_cli(main)
