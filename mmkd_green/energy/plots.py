"""PNG plots of carbon records (matplotlib, Agg backend): energy per epoch, cumulative CO2 (with
the run's prediction dashed), τ histogram. The x axis is the epoch (iteration-based loops: the
record interval). The two line plots return what they drew (:func:`_drawn`)."""
import contextlib
import os.path as osp


def _plt():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


@contextlib.contextmanager
def saved_figure(path, dpi=100, **subplots):
    """``with saved_figure(path, figsize=...) as (fig, axes):`` (``plt.subplots(**subplots)``);
    on leaving: laid out, saved to ``path`` at ``dpi``, closed (also when drawing raised)."""
    plt = _plt()
    fig, axes = plt.subplots(**subplots)
    try:
        yield fig, axes
        fig.tight_layout()
        fig.savefig(path, dpi=dpi)
    finally:
        plt.close(fig)


@contextlib.contextmanager
def _axes(path, xlabel, ylabel):
    """A 7x4 in figure's axes; on leaving: labels, legend, saved to ``path`` (100 dpi), closed."""
    with saved_figure(path, figsize=(7, 4)) as (_, ax):
        yield ax
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)


def _drawn(ax) -> dict:
    """What an axes shows (x label, lines with label, style and data), for callers and tests."""
    return dict(xlabel=ax.get_xlabel(), lines=[
        dict(label=line.get_label(), linestyle=line.get_linestyle(),
             x=[float(v) for v in line.get_xdata()], y=[float(v) for v in line.get_ydata()])
        for line in ax.get_lines()])


def _segments(records):
    return [r for r in records if r.get('type') in ('epoch', 'final')]


def _epoch_axis(runs) -> str:
    """``epoch``; ``interval`` when every run is iteration-based (records without an epoch)."""
    units = [r for _, records in runs for r in records if r.get('type') == 'epoch']
    return 'interval' if units and all(r.get('epoch') is None for r in units) else 'epoch'


def _cumulative(records, offset=0):
    """``(xs, ys)``: cumulative g CO2 at the end of each epoch (iteration loops: interval); the
    final segment (last validation, shutdown) lands on the last epoch."""
    total, xs, ys, x = 0.0, [offset], [0.0], offset
    for r in _segments(records):
        total += r.get('co2_g') or 0.0
        if r.get('type') == 'epoch':
            x = offset + (r['epoch'] if r.get('epoch') is not None else x - offset + 1)
            xs.append(x)
            ys.append(total)
        else:
            ys[-1] = total
    return xs, ys


def plot_energy_per_epoch(runs, path):
    """``runs``: ``[(name, records)]``; kWh (with PUE) of every epoch line."""
    unit = _epoch_axis(runs)
    with _axes(path, unit, f'energy per {unit} [kWh, with PUE]') as ax:
        for name, records in runs:
            epochs = [r for r in records if r.get('type') == 'epoch']
            xs = [r['epoch'] if r.get('epoch') is not None else i
                  for i, r in enumerate(epochs, 1)]
            ax.plot(xs, [r['energy_kwh'] for r in epochs], marker='o', label=name)
    return _drawn(ax)


def plot_cumulative_co2(runs, path, grid_names=()):
    """Cumulative g CO2 per run over its epochs; the run's first prediction as a dashed line
    (from where it was made to the predicted end); the grid runs chained one after another."""
    unit = _epoch_axis(runs)
    with _axes(path, unit, 'cumulative g CO2-eq') as ax:
        for name, records in runs:
            xs, ys = _cumulative(records)
            (line,) = ax.plot(xs, ys, label=name, linewidth=1)
            preds = [r for r in records if r.get('type') == 'predicted']
            if preds:
                p = preds[0]
                ax.plot([p['after_units'], p['units_total']], [p['spent']['co2_g'], p['co2_g']],
                        linestyle='--', color=line.get_color(), linewidth=1,
                        label=f'{name}: predicted after {unit} {p["after_units"]}')
        grid = [records for name, records in runs if name in grid_names]
        if grid:
            gx, gy, offset, base = [0], [0.0], 0, 0.0
            for records in grid:
                xs, ys = _cumulative(records, offset)
                gx += xs[1:]
                gy += [base + y for y in ys[1:]]
                offset, base = gx[-1], gy[-1]
            ax.plot(gx, gy, 'k--', linewidth=2, label='grid search (runs chained)')
    return _drawn(ax)


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
