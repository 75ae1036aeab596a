"""PNG plots of carbon records (matplotlib, Agg backend): energy per epoch, cumulative CO2,
τ histogram."""
import os.path as osp


def _plt():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _segments(records):
    return [r for r in records if r.get('type') in ('epoch', 'final')]


def plot_energy_per_epoch(runs, path):
    """``runs``: ``[(name, records)]``; kWh (with PUE) of every epoch line."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, records in runs:
        epochs = [r for r in records if r.get('type') == 'epoch']
        ax.plot(range(1, len(epochs) + 1), [r['energy_kwh'] for r in epochs], marker='o',
                label=name)
    ax.set_xlabel('epoch (record)')
    ax.set_ylabel('energy per epoch [kWh, with PUE]')
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_cumulative_co2(runs, path, grid_names=()):
    """Cumulative g CO2 per run, plus the grid runs chained one after another."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
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
    ax.set_xlabel('record')
    ax.set_ylabel('cumulative g CO2-eq')
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_tau_histogram(runs, path):
    """Unit-width τ histogram of each run (from the records' τ summaries)."""
    from .tau_stats import TauStats
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, records in runs:
        merged = TauStats.merge(r.get('tau') for r in _segments(records))
        if not merged:
            continue
        keys = sorted(int(k) for k in merged['hist'])
        ax.bar([k + 0.5 for k in keys], [merged['hist'][str(k)] for k in keys], width=1.0,
               alpha=0.5, label=f'{name} (n={merged["count"]})')
    ax.set_xlabel('τ')
    ax.set_ylabel('count')
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_all(runs, out_dir, grid_names=()):
    paths = dict(energy=osp.join(out_dir, 'energy_per_epoch.png'),
                 co2=osp.join(out_dir, 'cumulative_co2.png'),
                 tau=osp.join(out_dir, 'tau_histogram.png'))
    plot_energy_per_epoch(runs, paths['energy'])
    plot_cumulative_co2(runs, paths['co2'], grid_names)
    plot_tau_histogram(runs, paths['tau'])
    return paths
