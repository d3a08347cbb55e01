"""A few plain PNGs (matplotlib, no display needed)."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from nano_rlhf.files import atomic_write  # noqa: E402


def save_figure(fig, path):
    """tight_layout, then write the PNG atomically (a temp file of its own, fsync, rename) and close the figure."""
    fig.tight_layout()
    try:
        with atomic_write(path, "wb") as f:
            fig.savefig(f, dpi=110, format="png")
    finally:
        plt.close(fig)


def plot_curves(path: str, panels: list[tuple[str, dict[str, tuple[list, list]]]], xlabel: str = "step"):
    """One row of panels; each panel is (title, {label: (xs, ys)})."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (title, series) in zip(axes[0], panels):
        for label, (xs, ys) in series.items():
            ax.plot(xs, ys, label=label, marker="o" if len(xs) < 30 else None, ms=3)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.grid(alpha=0.3)
        if len(series) > 1:
            ax.legend()
    save_figure(fig, path)
