"""PNG plots of carbon records (matplotlib, Agg backend): energy per epoch, cumulative CO2,
τ histogram."""
import contextlib
import os.path as osp


def _plt():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


@contextlib.contextmanager
def _axes(path, xlabel, ylabel):
    """A 7x4 in figure's axes; on leaving: labels, legend, saved to ``path`` (100 dpi), closed."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    try:
        yield ax
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


def _segments(records):
    return [r for r in records if r.get('type') in ('epoch', 'final')]


def plot_energy_per_epoch(runs, path):
    """``runs``: ``[(name, records)]``; kWh (with PUE) of every epoch line."""
    with _axes(path, 'epoch (record)', 'energy per epoch [kWh, with PUE]') as ax:
        for name, records in runs:
            epochs = [r for r in records if r.get('type') == 'epoch']
            ax.plot(range(1, len(epochs) + 1), [r['energy_kwh'] for r in epochs], marker='o',
                    label=name)


def plot_cumulative_co2(runs, path, grid_names=()):
    """Cumulative g CO2 per run, plus the grid runs chained one after another."""
    with _axes(path, 'record', 'cumulative g CO2-eq') as ax:
        for name, records in runs:
            total, xs, ys = 0.0, [0], [0.0]
            for i, r in enumerate(_segments(records), 1):
                total += r.get('co2_g') or 0.0
                xs.append(i)
                ys.append(total)
            ax.plot(xs, ys, label=name, linewidth=1)
        grid = [records for name, records in runs if name in grid_names]
        if grid:
            total, ys = 0.0, [0.0]
            for records in grid:
                for r in _segments(records):
                    total += r.get('co2_g') or 0.0
                    ys.append(total)
            ax.plot(range(len(ys)), ys, 'k--', linewidth=2, label='grid search (runs chained)')


def plot_tau_histogram(runs, path):
    """Unit-width τ histogram of each run (from the records' τ summaries)."""
    from .tau_stats import TauStats
    with _axes(path, 'τ', 'count') as ax:
        for name, records in runs:
            merged = TauStats.merge(r.get('tau') for r in _segments(records))
            if not merged:
                continue
            keys = sorted(int(k) for k in merged['hist'])
            ax.bar([k + 0.5 for k in keys], [merged['hist'][str(k)] for k in keys], width=1.0,
                   alpha=0.5, label=f'{name} (n={merged["count"]})')


def plot_all(runs, out_dir, grid_names=()):
    paths = dict(energy=osp.join(out_dir, 'energy_per_epoch.png'),
                 co2=osp.join(out_dir, 'cumulative_co2.png'),
                 tau=osp.join(out_dir, 'tau_histogram.png'))
    plot_energy_per_epoch(runs, paths['energy'])
    plot_cumulative_co2(runs, paths['co2'], grid_names)
    plot_tau_histogram(runs, paths['tau'])
    return paths
