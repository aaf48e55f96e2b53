"""Chapter 9 — the collapse lab's widget panel: choose the switches, train that combination, compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..config import RunConfig
from ..language import figures
from .experiments import LAMBDAS, LabSizes, custom_config
from .store import Store
from .plots import plot_curves
from .report import by_experiment, results_table
from .runner import LabData, run_experiment, summary

say = figures.say  # the widget's words in the course's language (setup(lang="zh"))

__all__ = ["LabPanel", "LambdaSlider"]


class LabPanel:
    """An ipywidgets panel: switches for predictor, τ, stop-gradient and head norm, and a button
    that trains that combination (or reads it from the cache) and adds it to the comparison.

    `panel.widget` is what to display; `panel.run()` does what the button does (tests and
    notebooks call it directly); `panel.results` holds every run shown.
    """

    def __init__(self, results: Sequence[dict[str, Any]], base: RunConfig, sizes: LabSizes, data: LabData, cache: str | Path,
                 sources: Sequence[Store] = ()):
        import ipywidgets as widgets

        self.results, self.base, self.sizes, self.data, self.cache = list(results), base, sizes, data, cache
        self.sources = list(sources)  # read-only stores of finished runs, consulted before training
        self.predictor = widgets.Checkbox(value=True, description=say("predictor"))
        self.stop_gradient = widgets.Checkbox(value=True, description=say("stop-gradient"))
        self.tau = widgets.Dropdown(
            options=[("schedule (baseline)", None), ("0", 0.0), ("0.9", 0.9), ("0.99", 0.99), ("1", 1.0)],
            value=None,
            description="τ",
        )
        self.norm = widgets.Dropdown(
            options=[("BatchNorm", "batch"), ("GroupNorm + WS", "group"), ("none", "none")], value="batch", description=say("head norm")
        )
        self.button = widgets.Button(description=say("train and compare"), button_style="primary", icon="play")
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
        result = run_experiment(name, cfg, self.data, self.sizes, self.cache, label=name, sources=self.sources)
        self.results = [r for r in self.results if r["key"] != result["key"]] + [result]
        print(f"{name}: {summary(result)}")
        if show:
            import matplotlib.pyplot as plt
            from IPython.display import Markdown, display

            display(plot_curves(self.results))
            display(Markdown(results_table(self.results)))
            plt.close("all")
        return result


class LambdaSlider:
    """An ipywidgets slider over the λ sweep at τ = 0 (the predictor's learning rate × λ): each
    position shows that run's cached curves, its final numbers and Table 21's number beside them.

    results: the λ sweep's results (experiments tau_0_lambda_<λ>, from `run_lab` or `run_suite`).
    `slider.widget` is what to display; `slider.show(lam)` prints what a position shows (tests call it).
    """

    def __init__(self, results: Sequence[dict[str, Any]]) -> None:
        import ipywidgets as widgets

        self.runs = {float(name.rsplit("_", 1)[1]): runs for name, runs in by_experiment(results).items() if name.startswith("tau_0_lambda_")}
        if not self.runs:
            raise ValueError("LambdaSlider needs the λ sweep's results (experiments tau_0_lambda_<λ>); run the sweep first.")
        lams = sorted(self.runs)
        self.slider = widgets.SelectionSlider(
            options=[(f"{lam:g}", lam) for lam in lams], value=lams[0], description="λ",
            layout=widgets.Layout(width="180px"), style={"description_width": "30px"},  # a few positions: short steps
        )
        self.output = widgets.Output()
        self.slider.observe(lambda change: self._moved(change["new"]), names="value")
        self.widget = widgets.VBox([self.slider, self.output])
        self._moved(lams[0])

    def _moved(self, lam: float) -> None:
        import matplotlib.pyplot as plt
        from IPython.display import clear_output, display

        with self.output:
            clear_output(wait=True)
            print(self.show(lam))
            display(plot_curves(self.runs[lam]))
            plt.close("all")

    def show(self, lam: float) -> str:
        """One line: this λ's final kNN, embedding std and effective rank (mean over its seeds), and the paper's number."""
        if lam not in self.runs:
            return f"λ = {lam:g} was not run; the sweep has λ = {', '.join(f'{x:g}' for x in sorted(self.runs))}."
        runs = self.runs[lam]

        def mean(key: str) -> float:
            return sum(r["final"][key] for r in runs) / len(runs)

        paper = str(LAMBDAS[lam]) if lam in LAMBDAS else "not in Table 21"
        return (
            f"τ = 0, predictor lr × {lam:g}: kNN {mean('knn_top1'):.1%}, embedding std {mean('embedding_std'):.4f}, "
            f"effective rank {mean('effective_rank'):.1f} ({len(runs)} seed{'s' if len(runs) > 1 else ''}); "
            f"paper (ImageNet linear top-1): {paper}"
        )
