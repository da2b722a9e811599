"""The AWAC chapter's published tables (Nair PhD thesis, Ch. 6 and Appendix D), as data.

AWAC = A. Nair, Gupta, Dalal, Levine 2020, "AWAC: Accelerating Online Reinforcement Learning with
Offline Datasets". The thesis gives no seeds or stds for these tables. AWAC's offline scores on
D4RL "-v2" data are the AWAC column of IQL Table 1 and Table 2 (`thesis_iql_tables`). Every block
is the verbatim Markdown of ../shared/reference/digests/004_thesis_part1_digest.md §6.4 and §6.7,
checked against ../shared/reference/seeds/004_nair_thesis.txt at the lines in `seed_lines`.
"""

from __future__ import annotations

from jaxinsert.benchmarks.d4rl.published import from_markdown

THESIS = "A. Nair, PhD thesis (UC Berkeley, 2022), Ch. 6 = Nair et al. 2020 (AWAC)"

TABLE_15 = from_markdown(
    """
| Env | Use Z(s) | Omit Z(s) |
|---|---|---|
| pen | 84% | 98% |
| door | 0% | 95% |
| relocate | 0% | 54% |
""",
    name="AWAC Table 15 (Z(s) ablation)",
    source=f"{THESIS}, Appendix D, Table 15",
    seed_lines=(7858, 7868),
    columns=("Use Z(s)", "Omit Z(s)"),
    units="success rate (%) at the final timestep after online finetuning",
    notes=("Measured after 800K online steps for pen and door, 4M for relocate, on the binary "
           "(-1/0 reward) Adroit tasks with 25 human demos + 500 BC trajectories.",),
)

TABLE_17 = from_markdown(
    """
| Env | Expert | BC (1) | BC (2) |
|---|---|---|---|
| cheetah | 9962 | 2507 | 4524 |
| walker | 5062 | 2040 | 1701 |
| ant | 5207 | 687 | 1704 |
| pen | 1 | 0.73 | 0.76 |
| door | 1 | 0.10 | 0.00 |
| relocate | 1 | 0.02 | 0.01 |
""",
    name="AWAC Table 17 (prior data)",
    source=f"{THESIS}, Appendix D, Table 17 (\"Performance of the off-policy data for each "
           "environment\")",
    seed_lines=(8022, 8038),
    columns=("Expert", "BC (1)", "BC (2)"),
    decimals=2,
    units="raw average return (cheetah, walker, ant: Gym -v2) or success rate as a fraction "
          "(pen, door, relocate)",
    notes=("BC (1): BC on the expert data; BC (2): BC on the expert + BC data used as the "
           "off-policy prior data. Gym expert data come from a trained SAC policy, dexterous "
           "expert data are the human demonstrations.",),
)

FIGURE_75 = from_markdown(
    """
| Env | Dataset | AWAC (offline) | AWAC (online) | BEAR |
|---|---|---|---|---|
| HalfCheetah | random | 2.2 | 52.9 | 25.5 |
| HalfCheetah | medium | 37.4 | 41.1 | 38.6 |
| HalfCheetah | medium-expert | 36.8 | 41.0 | 51.7 |
| HalfCheetah | expert | 78.5 | 105.6 | 108.2 |
| Hopper | random | 9.6 | 62.8 | 9.5 |
| Hopper | medium | 72.0 | 91.0 | 47.6 |
| Hopper | medium-expert | 80.9 | 111.9 | 4.0 |
| Hopper | expert | 85.2 | 111.8 | 110.3 |
| Walker2D | random | 5.1 | 11.7 | 6.7 |
| Walker2D | medium | 30.1 | 79.1 | 33.2 |
| Walker2D | medium-expert | 42.7 | 78.3 | 10.8 |
| Walker2D | expert | 57.0 | 103.0 | 106.1 |
""",
    name="AWAC Figure 75 (D4RL finetuning)",
    source=f"{THESIS}, Appendix D.7, the table printed as Figure 75",
    seed_lines=(8267, 8301),
    columns=("AWAC (offline)", "AWAC (online)", "BEAR"),
    label_columns=2,
    notes=(
        "AWAC (online) is after 500,000 online steps; BEAR is offline only.",
        "The D4RL version is not stated (the 2020 paper predates -v2, so likely -v0); rows are "
        "keyed without a version and match any. Do not compare with -v2 numbers as equals: "
        "e.g. halfcheetah-medium AWAC offline is 37.4 here, 43.5 in IQL Table 1 (-v2).",
    ),
)
