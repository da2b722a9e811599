"""LOTJ's k/20 table, Barnard's exact test of the best cell, and the practice curve."""

import numpy as np
import pytest

from jaxinsert.training import lotj_report


def test_barnard_marks_a_clear_best_and_not_a_tie():
  clear = lotj_report.barnard_best({"straight_down": 1, "lotj_online": 19, "localize": 6}, 20)
  assert clear["best"] == "lotj_online" and clear["significant"]
  assert set(clear["p_values"]) == {"straight_down", "localize"}
  close = lotj_report.barnard_best({"lotj_offline": 10, "lotj_online": 12}, 20)
  assert close["best"] == "lotj_online" and not close["significant"]
  assert close["p_values"]["lotj_offline"] > 0.05
  with pytest.raises(ValueError, match="at least one"):
    lotj_report.barnard_best({}, 20)


def test_markdown_table_has_k_over_n_cells_and_marks_the_best():
  table = {"dt12@robot0/scenario1": {"straight_down": 0, "lotj_offline": 3, "lotj_online": 18,
                                     "reward_balanced_accuracy": 0.97, "practice_successes": [1]},
           "dt12@robot0/scenario2": {"straight_down": 2, "lotj_offline": 3}}
  text = lotj_report.markdown_table(table, 20)
  lines = text.splitlines()
  assert lines[0] == "| task / scenario | straight_down | lotj_offline | lotj_online |"
  assert "| **18/20*** |" in lines[2] and "0/20" in lines[2]
  assert lines[3].endswith("| 2/20 | **3/20** |  |")      # best, not significant; no online cell


def test_practice_curve_is_the_success_rate_per_block():
  practice = [0] * 20 + [1] * 10 + [0] * 10 + [1] * 20 + [1] * 5   # the last 5 are a partial block
  np.testing.assert_allclose(lotj_report.practice_curve(practice, 20), [0.0, 0.5, 1.0])
