"""Every published D4RL table jaxinsert compares against, by name, with its source.

The tables themselves live one module per source (`thesis_iql_tables`, `thesis_awac_tables`,
`corl_tables`); this module is the index. Each is a `PublishedTable`: rows
{dataset: {column: (mean, std or None)}}, printed totals, source and seed-file lines, and the
source's own arithmetic slips in `known_discrepancies`.
"""

from __future__ import annotations

from jaxinsert.benchmarks.d4rl.corl_tables import (CORL_BEST_GYM, CORL_LAST_ANTMAZE, CORL_LAST_GYM,
                                                    JAX_CORL)
from jaxinsert.benchmarks.d4rl.published import Discrepancy, PublishedTable, Score
from jaxinsert.benchmarks.d4rl.thesis_awac_tables import FIGURE_75, TABLE_15, TABLE_17
from jaxinsert.benchmarks.d4rl.thesis_iql_tables import (TABLE_1, TABLE_2, TABLE_19, TABLE_20,
                                                         TABLE_21_ANTMAZE, TABLE_21_HAND,
                                                         TABLE_22)

# Short names for scripts and flags (`--published=iql_table_1`).
TABLES: dict[str, PublishedTable] = {
    "iql_table_1": TABLE_1,
    "iql_table_2": TABLE_2,
    "iql_table_19": TABLE_19,
    "iql_table_20": TABLE_20,
    "iql_table_21_antmaze": TABLE_21_ANTMAZE,
    "iql_table_21_hand": TABLE_21_HAND,
    "iql_table_22": TABLE_22,
    "awac_table_15": TABLE_15,
    "awac_table_17": TABLE_17,
    "awac_figure_75": FIGURE_75,
    "corl_last_gym": CORL_LAST_GYM,
    "corl_last_antmaze": CORL_LAST_ANTMAZE,
    "corl_best_gym": CORL_BEST_GYM,
    "jax_corl": JAX_CORL,
}


def get_table(name: str) -> PublishedTable:
  """A table by its short name (see `TABLES`) or its full `name` ("IQL Table 1")."""
  if name in TABLES:
    return TABLES[name]
  for table in TABLES.values():
    if table.name == name:
      return table
  raise KeyError(f"No published table {name!r}; known: {', '.join(TABLES)}")


__all__ = ["TABLES", "get_table", "Discrepancy", "PublishedTable", "Score", "TABLE_1", "TABLE_2",
           "TABLE_19", "TABLE_20", "TABLE_21_ANTMAZE", "TABLE_21_HAND", "TABLE_22", "TABLE_15",
           "TABLE_17", "FIGURE_75", "CORL_LAST_GYM", "CORL_LAST_ANTMAZE", "CORL_BEST_GYM",
           "JAX_CORL"]
