"""D4RL reference numbers: normalisation constants, published tables and the comparison printout.

The table tests re-add every published column and require the mismatches to be exactly the
source's known slips, so a transcription error cannot hide among them. Where the shared reference
files are present they also check every transcribed row against the source text itself.
"""

import pathlib

import numpy as np
import pytest

from jaxinsert.benchmarks import d4rl
from jaxinsert.benchmarks.d4rl.published import (ROUNDING_TOLERANCE, from_markdown, parse_cell,
                                                 total_mismatches)

REFERENCE_DIR = pathlib.Path(__file__).resolve().parents[2] / "shared" / "reference"
THESIS_SEED = REFERENCE_DIR / "seeds" / "004_nair_thesis.txt"
FRAMEWORK_ANCHORS = REFERENCE_DIR / "anchors" / "offline_rl_frameworks.md"

# d4rl/infos.py @ 89141a6, REF_MIN_SCORE / REF_MAX_SCORE, as quoted in the anchors §2.3.
D4RL_INFOS = {
    "halfcheetah": (-280.178953, 12135.0),
    "hopper": (-20.272305, 3234.3),
    "walker2d": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
    "antmaze": (0.0, 1.0),
    "kitchen": (0.0, 4.0),
    "pen": (96.262799, 3076.8331017826877),
    "hammer": (-274.856578, 12794.134825156867),
    "door": (-56.512833, 2880.5693087298737),
    "relocate": (-6.425911, 4233.877797728884),
}


# --- normalisation ------------------------------------------------------------------------------

def test_halfcheetah_random_return_scores_0_and_expert_return_scores_100():
  assert d4rl.normalized_score("halfcheetah-medium-v2", -280.178953) == pytest.approx(0.0, abs=1e-9)
  assert d4rl.normalized_score("halfcheetah-medium-v2", 12135.0) == pytest.approx(100.0)


@pytest.mark.parametrize("environment", sorted(D4RL_INFOS))
def test_every_environment_maps_its_random_return_to_0_and_expert_return_to_100(environment):
  random_return, expert_return = D4RL_INFOS[environment]
  assert d4rl.reference_returns(environment) == d4rl.ReferenceReturns(random_return,
                                                                       expert_return)
  assert d4rl.normalized_score(environment, random_return) == pytest.approx(0.0, abs=1e-9)
  assert d4rl.normalized_score(environment, expert_return) == pytest.approx(100.0)


def test_every_vendored_environment_is_checked_against_d4rl_infos():
  assert set(d4rl.REFERENCE_RETURNS) == set(D4RL_INFOS)


@pytest.mark.parametrize("name, environment", [
    ("hopper-medium-v2", "hopper"), ("Hopper-v5", "hopper"), ("hopper", "hopper"),
    ("halfcheetah", "halfcheetah"), ("HalfCheetah-v5", "halfcheetah"),
    ("walker2d-medium-replay-v2", "walker2d"), ("Walker2d-v5", "walker2d"),
    ("antmaze-umaze-diverse-v0", "antmaze"), ("Ant-v5", "ant"),
    ("kitchen-mixed-v0", "kitchen"), ("pen-human-v1", "pen"), ("door-cloned-v0", "door"),
])
def test_dataset_and_gymnasium_names_resolve_to_their_d4rl_environment(name, environment):
  assert d4rl.environment_family(name) == environment


@pytest.mark.parametrize("name, message", [
    ("maze2d-umaze-v1", "known environments"), ("bullet-hopper-medium-v0", "known environments"),
    ("Humanoid-v5", "known environments"), ("pen-binary-v0", "binary"),
])
def test_unknown_or_incompatible_names_raise_a_value_error_that_says_why(name, message):
  with pytest.raises(ValueError, match=message):
    d4rl.normalized_score(name, 1.0)


def test_normalised_score_works_on_arrays_and_inverts_through_raw_return():
  returns = np.array([-20.272305, 1607.0, 3234.3])
  scores = d4rl.normalized_score("hopper-medium-expert-v2", returns)
  np.testing.assert_allclose(scores[[0, 2]], [0.0, 100.0], atol=1e-9)
  np.testing.assert_allclose(d4rl.raw_return("hopper", scores), returns)


# --- published tables ---------------------------------------------------------------------------

ALL_TABLES = sorted(d4rl.TABLES)


def _key(discrepancy):
  return discrepancy.total, discrepancy.column, discrepancy.quantity


@pytest.mark.parametrize("table_name", ALL_TABLES)
def test_printed_totals_match_their_columns_within_rounding_except_known_slips(table_name):
  table = d4rl.TABLES[table_name]
  allowed = {_key(d) for d in table.known_discrepancies if d.beyond_rounding}
  unexplained = [d for d in total_mismatches(table)
                 if d.beyond_rounding and _key(d) not in allowed]
  assert not unexplained, (f"{table.name}: printed totals off by more than "
                           f"{ROUNDING_TOLERANCE} (transcription error?): {unexplained}")


@pytest.mark.parametrize("table_name", ALL_TABLES)
def test_total_mismatches_are_exactly_the_recorded_discrepancies(table_name):
  table = d4rl.TABLES[table_name]
  found = {_key(d): d for d in total_mismatches(table)}
  recorded = {_key(d): d for d in table.known_discrepancies}
  assert set(found) == set(recorded), (
      f"{table.name}: mismatching totals {sorted(found)} != recorded {sorted(recorded)}")
  for key, discrepancy in recorded.items():
    assert discrepancy.printed == pytest.approx(found[key].printed), key
    assert discrepancy.computed == pytest.approx(found[key].computed, abs=0.01), key


def test_table_2_cql_offline_antmaze_total_is_printed_151_5_but_sums_to_149_2():
  assert d4rl.TABLE_2.totals["antmaze-v0 total"]["CQL (offline)"] == (151.5, None)
  assert d4rl.TABLE_2.computed_total("antmaze-v0 total", "CQL (offline)") == pytest.approx(149.2)


def test_table_1_has_all_ten_baseline_columns_and_fifteen_datasets():
  assert d4rl.TABLE_1.columns == ("BC", "10%BC", "BCQ", "DT", "ABM", "AWAC", "Onestep RL",
                                  "TD3+BC", "CQL", "IQL (Ours)")
  assert len(d4rl.TABLE_1.rows) == 15
  for dataset, scores in d4rl.TABLE_1.rows.items():
    assert set(scores) == set(d4rl.TABLE_1.columns), f"{dataset} is missing a column"
  assert d4rl.TABLE_1.rows["hopper-medium-replay-v2"]["IQL (Ours)"] == (94.7, 8.6)
  assert d4rl.TABLE_1.rows["antmaze-large-play-v0"]["ABM"] == (0.0, None)  # printed "0."
  assert set(d4rl.TABLE_1.text_rows["runtime"]) == set(d4rl.TABLE_1.columns) - {"BCQ", "ABM"}


def test_table_1_kitchen_and_adroit_totals_are_table_20s():
  for column_1, column_20 in (("BC", "BC"), ("CQL", "CQL"), ("IQL (Ours)", "Ours")):
    for total in ("kitchen-v0 total", "adroit-v0 total"):
      assert (d4rl.TABLE_1.totals[total][column_1][0]
              == d4rl.TABLE_20.totals[total][column_20][0]), (total, column_1)


def test_numbers_repeated_across_tables_agree():
  iql = d4rl.TABLE_1.column("IQL (Ours)")
  assert d4rl.TABLE_22.column("IQL") == iql
  antmaze = {dataset: iql[dataset] for dataset in d4rl.TABLE_19.rows}
  assert d4rl.TABLE_19.column("IQL w/ τ = 0.9") == antmaze
  for dataset in d4rl.TABLE_19.rows:
    assert d4rl.TABLE_2.rows[dataset]["AWAC (offline)"] == d4rl.TABLE_1.rows[dataset]["AWAC"]
  for dataset, scores in d4rl.TABLE_21_ANTMAZE.rows.items():
    for column in ("CQL (offline)", "CQL (online)"):
      assert scores[column] == d4rl.TABLE_2.rows[dataset][column], (dataset, column)


@pytest.mark.parametrize("text, expected", [
    ("47.4±0.2", (47.4, 0.2)), ("78.3± 8.7", (78.3, 8.7)), ("87.5 ± 2.6", (87.5, 2.6)),
    ("0.", (0.0, None)), ("-1.0", (-1.0, None)), ("84%", (84.0, None)), ("-", None),
    ("(none)", None), ("$42.63 \\pm 0.53$", (42.63, 0.53)),
])
def test_cell_parser_reads_every_printed_form(text, expected):
  assert parse_cell(text) == expected


def test_cell_parser_rejects_text_it_cannot_read():
  with pytest.raises(ValueError, match="Cannot read"):
    parse_cell("about 40")


def test_a_row_with_the_wrong_number_of_cells_is_rejected():
  with pytest.raises(ValueError, match="2 values for 3 columns"):
    from_markdown("| d | a | b | c |\n|---|---|---|---|\n| x | 1 | 2 |",
                  columns=("a", "b", "c"), name="t", source="s")


def _normalised(text):
  return " ".join(text.replace("*", "").split())


@pytest.mark.skipif(not THESIS_SEED.exists(), reason="shared thesis text not on this machine")
@pytest.mark.parametrize("table_name", [name for name in ALL_TABLES
                                        if d4rl.TABLES[name].seed_lines])
def test_every_transcribed_row_appears_verbatim_at_the_recorded_thesis_lines(table_name):
  table = d4rl.TABLES[table_name]
  first, last = table.seed_lines
  seed = [_normalised(line)
          for line in THESIS_SEED.read_text(encoding="utf-8").splitlines()[first - 1:last]]
  label_columns = 2 if table is d4rl.FIGURE_75 else 1
  for line in table.printed_markdown.splitlines()[2:]:
    cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
    # Figure 75 prints the environment once per block, so match from the dataset cell on.
    printed = _normalised(" ".join(cells[label_columns - 1:]))
    assert any(seed_line.endswith(printed) for seed_line in seed), (
        f"{table.name}: {printed!r} not found at lines {first}-{last} of {THESIS_SEED.name}")


@pytest.mark.skipif(not FRAMEWORK_ANCHORS.exists(), reason="shared anchors not on this machine")
@pytest.mark.parametrize("table_name", ["corl_last_gym", "corl_last_antmaze", "corl_best_gym",
                                        "jax_corl"])
def test_framework_tables_are_verbatim_blocks_of_the_anchors(table_name):
  anchors = set(FRAMEWORK_ANCHORS.read_text(encoding="utf-8").splitlines())
  for line in d4rl.TABLES[table_name].printed_markdown.splitlines():
    assert line in anchors, f"{table_name}: {line!r} is not in {FRAMEWORK_ANCHORS.name}"


def test_every_table_names_its_source_and_tables_are_found_by_either_name():
  for short_name, table in d4rl.TABLES.items():
    assert table.source and table.columns and table.rows, short_name
    assert d4rl.get_table(short_name) is d4rl.get_table(table.name) is table
  with pytest.raises(KeyError, match="known"):
    d4rl.get_table("iql_table_99")


# --- comparison ---------------------------------------------------------------------------------

def test_compare_summarises_per_seed_scores_and_measures_the_gap_in_published_std():
  rows = d4rl.compare({"hopper-medium-v2": [60.0, 66.0, 72.0]}, d4rl.TABLE_1)
  (row,) = rows
  assert (row.ours_mean, row.num_seeds) == (66.0, 3)
  assert row.ours_std == pytest.approx(np.std([60.0, 66.0, 72.0]))
  assert (row.published_mean, row.published_std) == (66.2, 5.7)
  assert row.difference == pytest.approx(-0.2)
  assert row.std_source == "published"
  assert row.difference_in_std == pytest.approx(-0.2 / 5.7)
  assert row.band == pytest.approx(11.4) and row.in_band


def test_compare_falls_back_to_our_std_where_the_table_prints_none():
  (row,) = d4rl.compare({"hopper-m-v2": (52.0, 2.5, 5)}, d4rl.TABLE_1, column="AWAC")
  assert (row.published_mean, row.published_std) == (57.0, None)
  assert row.std_source == "ours"
  assert row.difference_in_std == pytest.approx(-2.0)
  assert row.band == 10.0 and row.in_band


def test_compare_keeps_datasets_the_table_lacks_and_rejects_unknown_columns():
  (row,) = d4rl.compare({"hopper-random-v2": [5.0, 6.0]}, d4rl.TABLE_1)
  assert row.published_mean is None and row.difference is None and row.in_band is None
  with pytest.raises(KeyError, match="no column"):
    d4rl.compare({"hopper-medium-v2": [1.0]}, d4rl.TABLE_1, column="IQL")


def test_format_table_prints_ours_beside_published_with_the_std_it_used():
  rows = d4rl.compare({"hopper-medium-v2": [60.0, 66.0, 72.0],
                       "halfcheetah-medium-v2": (60.0, 1.0, 5),
                       "walker2d-medium-v2": (70.0, 3.0, 3)},
                      d4rl.TABLE_1, column="IQL (Ours)")
  text = d4rl.format_table(rows, title="IQL Table 1, column IQL (Ours)")
  lines = text.splitlines()
  assert lines[0] == "IQL Table 1, column IQL (Ours)"
  assert "in std (of)" in lines[1]
  hopper, halfcheetah, walker = lines[3:]
  assert hopper.startswith("hopper-medium-v2")
  for expected in ("66.0 ± 4.9 (n=3)", "66.2 ± 5.7", "-0.2", "-0.04 (published)", "ok (±11.4)"):
    assert expected in hopper, f"{expected!r} missing from {hopper!r}"
  for expected in ("60.0 ± 1.0 (n=5)", "+12.6", "+63.00 (published)", "MISS (±10.0)"):
    assert expected in halfcheetah, f"{expected!r} missing from {halfcheetah!r}"
  assert "ok (±17.4)" in walker


@pytest.mark.parametrize("ours, published, std, expected", [
    (56.0, 66.2, 5.7, True),    # 10.2 off, band 2 * 5.7 = 11.4
    (54.7, 66.2, 5.7, False),   # 11.5 off
    (57.5, 47.4, 0.2, False),   # tight std: the 10-point floor applies, 10.1 off
    (57.3, 47.4, 0.2, True),
    (40.0, 57.0, None, False),  # no published std: 10 points
    (88.0, 109.6, 8.7 * 1.3, True),
])
def test_within_band_is_max_of_two_std_and_ten_points(ours, published, std, expected):
  assert d4rl.within_band(ours, published, std) is expected


def test_within_band_takes_the_floor_and_multiplier_as_arguments():
  assert d4rl.within_band(60.0, 66.2, 5.7, min_points=5.0, k=1.0) is False
  assert d4rl.within_band(60.0, 66.2, 5.7, min_points=5.0, k=1.1) is True
