"""Chapter 9 — the collapse lab's widget panel: choose the switches, train that combination, compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..config import RunConfig
from .experiments import LabSizes, custom_config
from .plots import plot_curves
from .report import results_table
from .runner import LabData, run_experiment, summary

__all__ = ["LabPanel"]


class LabPanel:
    """An ipywidgets panel: switches for predictor, τ, stop-gradient and head norm, and a button
    that trains that combination (or reads it from the cache) and adds it to the comparison.

    `panel.widget` is what to display; `panel.run()` does what the button does (tests and
    notebooks call it directly); `panel.results` holds every run shown.
    """

    def __init__(self, results: Sequence[dict[str, Any]], base: RunConfig, sizes: LabSizes, data: LabData, cache: str | Path):
        import ipywidgets as widgets

        self.results, self.base, self.sizes, self.data, self.cache = list(results), base, sizes, data, cache
        self.predictor = widgets.Checkbox(value=True, description="predictor")
        self.stop_gradient = widgets.Checkbox(value=True, description="stop-gradient")
        self.tau = widgets.Dropdown(
            options=[("schedule (baseline)", None), ("0", 0.0), ("0.9", 0.9), ("0.99", 0.99), ("1", 1.0)],
            value=None,
            description="τ",
        )
        self.norm = widgets.Dropdown(
            options=[("BatchNorm", "batch"), ("GroupNorm + WS", "group"), ("none", "none")], value="batch", description="head norm"
        )
        self.button = widgets.Button(description="train and compare", button_style="primary", icon="play")
        self.output = widgets.Output()
        self.button.on_click(lambda _: self._clicked())
        self.widget = widgets.VBox(
            [widgets.HBox([self.predictor, self.stop_gradient]), widgets.HBox([self.tau, self.norm]), self.button, self.output]
        )

    def _clicked(self) -> None:
        from IPython.display import clear_output

        with self.output:
            clear_output(wait=True)
            self.button.disabled = True
            try:
                self.run(show=True)
            finally:
                self.button.disabled = False

    def run(self, show: bool = False) -> dict[str, Any]:
        """Train the selected combination (or read it from the cache) and add it to the comparison."""
        name, cfg = custom_config(
            self.base, predictor=self.predictor.value, tau=self.tau.value, stop_gradient=self.stop_gradient.value, head_norm=self.norm.value
        )
        result = run_experiment(name, cfg, self.data, self.sizes, self.cache, label=name)
        self.results = [r for r in self.results if r["key"] != result["key"]] + [result]
        print(f"{name}: {summary(result)}")
        if show:
            import matplotlib.pyplot as plt
            from IPython.display import Markdown, display

            display(plot_curves(self.results))
            display(Markdown(results_table(self.results)))
            plt.close("all")
        return result
