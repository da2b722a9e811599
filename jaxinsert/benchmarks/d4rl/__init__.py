"""D4RL reference numbers: normalised scores, the published tables, and our scores beside them.

    from jaxinsert.benchmarks import d4rl
    d4rl.normalized_score("hopper-medium-v2", 1500.0)
    rows = d4rl.compare({"hopper-medium-v2": [63.0, 70.1, 58.4]}, d4rl.TABLE_1)
    print(d4rl.format_table(rows, title="IQL Table 1, IQL (Ours)"))
"""

from jaxinsert.benchmarks.d4rl.compare import (ComparisonRow, band_half_width, compare,
                                               format_table, summarize_seeds, within_band)
from jaxinsert.benchmarks.d4rl.published import (Discrepancy, PublishedTable,
                                                 canonical_dataset_name, total_mismatches)
from jaxinsert.benchmarks.d4rl.reference import (REFERENCE_RETURNS, ReferenceReturns,
                                                 environment_family, normalized_score, raw_return,
                                                 reference_returns)
from jaxinsert.benchmarks.d4rl.tables import (CORL_BEST_GYM, CORL_LAST_ANTMAZE, CORL_LAST_GYM,
                                              FIGURE_75, JAX_CORL, TABLE_1, TABLE_2, TABLE_15,
                                              TABLE_17, TABLE_19, TABLE_20, TABLE_21_ANTMAZE,
                                              TABLE_21_HAND, TABLE_22, TABLES, get_table)
