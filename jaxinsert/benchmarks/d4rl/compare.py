"""Our D4RL scores beside a published table: difference in points and in standard deviations.

`compare` lines up our per-dataset scores with one column of a `PublishedTable`; `format_table`
prints them. The acceptance band of issue 5 is `within_band`: a mean passes when it lies within
max(2 std, 10 points) of the published mean, so that a tight published std (halfcheetah's ±0.2)
does not demand more agreement than a different simulator and seed set can give.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping, Optional, Sequence, Union

import numpy as np

from jaxinsert.benchmarks.d4rl.published import PublishedTable

# Per-seed normalised scores (list or array), or an already reduced (mean, std, num_seeds) tuple.
OurScores = Union[Sequence[float], np.ndarray, tuple]


def band_half_width(published_std: Optional[float], min_points: float = 10.0,
                    k: float = 2.0) -> float:
  """How far from the published mean a score may lie: max(k std, min_points)."""
  return max(k * published_std, min_points) if published_std is not None else min_points


def within_band(ours_mean: float, published_mean: float, published_std: Optional[float],
                min_points: float = 10.0, k: float = 2.0) -> bool:
  """Issue 5's acceptance test: |ours - published| <= max(k * published std, min_points)."""
  return abs(ours_mean - published_mean) <= band_half_width(published_std, min_points, k)


def summarize_seeds(scores: OurScores) -> tuple[float, Optional[float], int]:
  """(mean, std, num_seeds) from per-seed scores; a tuple is taken as already (mean, std, n).

  The std over seeds is NumPy's default (ddof=0), the usual convention of published RL tables;
  with one seed it is None. Pass a (mean, std, n) tuple to use another estimator.
  """
  if isinstance(scores, tuple):
    if len(scores) != 3:
      raise TypeError(f"A tuple of scores must be (mean, std, num_seeds), got {scores!r}; pass "
                      "per-seed scores as a list or array")
    mean, std, num_seeds = scores
    return float(mean), (None if std is None else float(std)), int(num_seeds)
  values = np.asarray(scores, dtype=np.float64).ravel()
  if values.size == 0:
    raise ValueError("No per-seed scores given")
  std = float(values.std()) if values.size > 1 else None
  return float(values.mean()), std, int(values.size)


@dataclasses.dataclass(frozen=True)
class ComparisonRow:
  """One dataset: our mean ± std over seeds next to the published mean ± std."""

  dataset: str
  ours_mean: float
  ours_std: Optional[float]
  num_seeds: int
  published_mean: Optional[float]  # None: the table has no such row, or this column is blank
  published_std: Optional[float]
  band: float                      # half-width of the acceptance band around published_mean

  @property
  def difference(self) -> Optional[float]:
    """Ours minus published, in score points."""
    return None if self.published_mean is None else self.ours_mean - self.published_mean

  @property
  def std_source(self) -> Optional[str]:
    """Whose std the difference is measured in: "published" where printed (and non-zero),
    else "ours" (over our seeds), else None."""
    if self.published_std:
      return "published"
    if self.ours_std:
      return "ours"
    return None

  @property
  def difference_in_std(self) -> Optional[float]:
    source = self.std_source
    if self.difference is None or source is None:
      return None
    return self.difference / (self.published_std if source == "published" else self.ours_std)

  @property
  def in_band(self) -> Optional[bool]:
    if self.published_mean is None:
      return None
    return abs(self.difference) <= self.band


def compare(ours: Mapping[str, OurScores], table: PublishedTable, column: str = "IQL (Ours)",
            min_points: float = 10.0, k: float = 2.0) -> list[ComparisonRow]:
  """One row per dataset of `ours` (in its order) against `table[column]`.

  Dataset names may be full ("hopper-medium-v2") or as printed ("hopper-m-v2"). A dataset the
  table lacks still gets a row, with no published number, so nothing we ran goes unreported.
  """
  published = table.column(column)
  rows = []
  for dataset, scores in ours.items():
    mean, std, num_seeds = summarize_seeds(scores)
    key = table.find_row(dataset)
    published_mean, published_std = published.get(key, (None, None)) if key else (None, None)
    rows.append(ComparisonRow(
        dataset=dataset, ours_mean=mean, ours_std=std, num_seeds=num_seeds,
        published_mean=published_mean, published_std=published_std,
        band=band_half_width(published_std, min_points, k)))
  return rows


def _mean_std(mean: Optional[float], std: Optional[float]) -> str:
  if mean is None:
    return "-"
  return f"{mean:.1f}" if std is None else f"{mean:.1f} ± {std:.1f}"


def format_table(rows: Sequence[ComparisonRow], title: str = "") -> str:
  """A plain-text table: dataset, ours (n seeds), published, difference, difference in std (and
  whose std), and whether our mean lies in the acceptance band."""
  header = ("dataset", "ours (n seeds)", "published", "ours - pub", "in std (of)", "band")
  lines = []
  for row in rows:
    difference = row.difference
    in_std = row.difference_in_std
    if row.in_band is None:
      band = "-"
    else:
      band = f"{'ok' if row.in_band else 'MISS'} (±{row.band:.1f})"
    lines.append((
        row.dataset,
        f"{_mean_std(row.ours_mean, row.ours_std)} (n={row.num_seeds})",
        _mean_std(row.published_mean, row.published_std),
        "-" if difference is None else f"{difference:+.1f}",
        "-" if in_std is None or not math.isfinite(in_std) else f"{in_std:+.2f} ({row.std_source})",
        band,
    ))
  widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header))]

  def render(cells):
    # Left-align names, right-align numbers, so that columns of figures line up.
    return "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                     for i, (cell, width) in enumerate(zip(cells, widths))).rstrip()

  out = [title] if title else []
  out += [render(header), render(["-" * width for width in widths])]
  out += [render(cells) for cells in lines]
  return "\n".join(out)
