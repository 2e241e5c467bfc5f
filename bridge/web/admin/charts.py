"""Charts as SVG geometry computed here and drawn by the template: no script, no network, no inline style."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    label: str  # on hover (an SVG <title>) and for screen readers
    value: int


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    top: int  # the value the full height stands for
    axis_labels: list[tuple[float, str, str]]  # x, text, text-anchor
    baseline: float

    @property
    def empty(self) -> bool:
        return not any(bar.value for bar in self.bars)


def columns(points: Sequence[tuple[str, int]], width: int = 600, height: int = 160,
            label_every: int = 7) -> BarChart:
    """Vertical bars, one per point (label, value), scaled to the largest value."""
    plot_height = height - 24
    top = max([value for _, value in points] + [1])
    slot = width / max(len(points), 1)
    bars, labels = [], []
    for index, (label, value) in enumerate(points):
        bar_height = plot_height * value / top
        bars.append(Bar(round(index * slot + slot * 0.15, 1), round(plot_height - bar_height, 1),
                        round(slot * 0.7, 1), round(bar_height, 1), label, value))
        from_end = len(points) - 1 - index
        if from_end % label_every == 0:  # the last day always has its label, flush right
            labels.append((width, label, "end") if from_end == 0 else (round(index * slot + slot / 2, 1), label,
                                                                          "middle"))
    return BarChart(width, height, bars, top, labels, plot_height)


def rows(points: Sequence[tuple[str, int]], width: int = 600, row_height: int = 26) -> BarChart:
    """Horizontal bars, one per point (label, value), labels on the left."""
    label_width, plot_width = 130, width - 130 - 50
    top = max([value for _, value in points] + [1])
    bars = [Bar(label_width, index * row_height + 4, round(plot_width * value / top, 1), row_height - 8, label, value)
            for index, (label, value) in enumerate(points)]
    return BarChart(width, row_height * max(len(points), 1), bars, top, [], 0)
