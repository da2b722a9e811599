"""LOTJ's tables and curves: k/20 cells per held-out connector and scenario (seed 001 Table I's
format), Barnard's exact test of the best cell against every other, and the success of the
self-rewarded practice trials against their number.
"""

from __future__ import annotations

from typing import Dict, List, Mapping, Sequence

import numpy as np

from jaxinsert.training import logging

# The learned and scripted methods of a row, in the paper's column order; absent ones are skipped.
COLUMNS = ("localize", "state_iql", "straight_down", "random_search", "spiral_search", "sac_offline",
           "sac_online", "lotj_offline", "lotj_online")


def barnard_best(scores: Mapping[str, int], trials: int, alpha: float = 0.05) -> Dict[str, object]:
  """The best cell of a row and Barnard's exact test (one-sided: best > other) against each other
  cell; `significant` when every p-value is below `alpha`."""
  from scipy.stats import barnard_exact

  if not scores:
    raise ValueError("barnard_best needs at least one score")
  best = max(scores, key=lambda k: scores[k])
  p_values = {}
  for name, k in scores.items():
    if name == best:
      continue
    table = [[scores[best], k], [trials - scores[best], trials - k]]
    p_values[name] = float(barnard_exact(table, alternative="greater").pvalue)
  return {"best": best, "p_values": p_values,
          "significant": bool(p_values) and all(p < alpha for p in p_values.values())}


def scores_of(row: Mapping[str, object]) -> Dict[str, int]:
  return {name: int(row[name]) for name in COLUMNS if isinstance(row.get(name), (int, np.integer))}


def markdown_table(table: Mapping[str, Mapping[str, object]], trials: int) -> str:
  """Rows = held-out task / scenario, columns = methods, cells k/trials; the best cell in bold,
  with a star when Barnard's test puts it above every other cell of its row."""
  columns = [c for c in COLUMNS if any(c in row for row in table.values())]
  lines = ["| task / scenario | " + " | ".join(columns) + " |",
           "|---" * (len(columns) + 1) + "|"]
  for name, row in table.items():
    scores = scores_of(row)
    marked = barnard_best(scores, trials) if scores else {"best": None, "significant": False}
    cells = []
    for column in columns:
      if column not in scores:
        cells.append("")
        continue
      cell = f"{scores[column]}/{trials}"
      if column == marked["best"]:
        cell = f"**{cell}**" + ("*" if marked["significant"] else "")
      cells.append(cell)
    lines.append(f"| {name} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def practice_curve(practice: Sequence[int], block: int = 20) -> List[float]:
  """Success rate of the self-rewarded practice trials, per block of `block` trials."""
  practice = np.asarray(practice, float)
  usable = len(practice) - len(practice) % block
  return practice[:usable].reshape(-1, block).mean(axis=1).tolist()


def plot_practice(table: Mapping[str, Mapping[str, object]], path: str, block: int = 20) -> None:
  """Practice success per block of trials, one line per held-out task / scenario."""
  rows = {name: row["practice_successes"] for name, row in table.items()
          if row.get("practice_successes")}
  if not rows:
    return
  plt = logging.pyplot()
  figure, axis = plt.subplots(figsize=(6, 3.5))
  for name, practice in rows.items():
    curve = practice_curve(practice, block)
    axis.plot(block * (np.arange(len(curve)) + 1), curve, marker="o", label=name)
  axis.set_xlabel("self-rewarded practice trials")
  axis.set_ylabel(f"true success (per {block} trials)")
  axis.set_ylim(-0.02, 1.02)
  axis.legend(fontsize=7)
  logging.save_figure(figure, path)
