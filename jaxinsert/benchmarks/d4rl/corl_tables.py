"""Published D4RL scores of the CORL single-file implementations (and of JAX-CORL), as data.

CORL (corl-team/CORL, PyTorch) is the most-cited re-implementation of IQL, AWAC and BC on D4RL
"-v2" data; JAX-CORL (nissymori/JAX-CORL) ports several of them to JAX. Their numbers say what
a careful re-implementation reaches, next to the papers' own. The blocks are the verbatim
Markdown of the READMEs as quoted in ../shared/reference/anchors/offline_rl_frameworks.md §2.2
(a) and (b). CORL's runs normalise states and not rewards, unlike the official IQL.
"""

from __future__ import annotations

from jaxinsert.benchmarks.d4rl.published import from_markdown

CORL = "corl-team/CORL README.md, D4RL Benchmarks / Offline"
CORL_COLUMNS = ("BC", "10% BC", "TD3+BC", "AWAC", "CQL", "IQL", "ReBRAC", "SAC-N", "EDAC", "DT")
LOCOMOTION_V2 = tuple(f"{env}-{dataset}-v2"
                      for env in ("halfcheetah", "hopper", "walker2d")
                      for dataset in ("medium", "medium-replay", "medium-expert"))
ANTMAZE_V2 = tuple(f"antmaze-{maze}-v2" for maze in (
    "umaze", "umaze-diverse", "medium-play", "medium-diverse", "large-play", "large-diverse"))

CORL_LAST_GYM = from_markdown(
    """
| **Task-Name**|BC|10% BC|TD3+BC|AWAC|CQL|IQL|ReBRAC|SAC-N|EDAC|DT|
|------------------------------|------------|--------|--------|--------|-----|-----|------|-------|------|----|
|halfcheetah-medium-v2|42.40 ± 0.19|42.46 ± 0.70|48.10 ± 0.18|50.02 ± 0.27|47.04 ± 0.22|48.31 ± 0.22|64.04 ± 0.68|68.20 ± 1.28|67.70 ± 1.04|42.20 ± 0.26|
|halfcheetah-medium-replay-v2|35.66 ± 2.33|23.59 ± 6.95|44.84 ± 0.59|45.13 ± 0.88|45.04 ± 0.27|44.46 ± 0.22|51.18 ± 0.31|60.70 ± 1.01|62.06 ± 1.10|38.91 ± 0.50|
|halfcheetah-medium-expert-v2|55.95 ± 7.35|90.10 ± 2.45|90.78 ± 6.04|95.00 ± 0.61|95.63 ± 0.42|94.74 ± 0.52|103.80 ± 2.95|98.96 ± 9.31|104.76 ± 0.64|91.55 ± 0.95|
|hopper-medium-v2|53.51 ± 1.76|55.48 ± 7.30|60.37 ± 3.49|63.02 ± 4.56|59.08 ± 3.77|67.53 ± 3.78|102.29 ± 0.17|40.82 ± 9.91|101.70 ± 0.28|65.10 ± 1.61|
|hopper-medium-replay-v2|29.81 ± 2.07|70.42 ± 8.66|64.42 ± 21.52|98.88 ± 2.07|95.11 ± 5.27|97.43 ± 6.39|94.98 ± 6.53|100.33 ± 0.78|99.66 ± 0.81|81.77 ± 6.87|
|hopper-medium-expert-v2|52.30 ± 4.01|111.16 ± 1.03|101.17 ± 9.07|101.90 ± 6.22|99.26 ± 10.91|107.42 ± 7.80|109.45 ± 2.34|101.31 ± 11.63|105.19 ± 10.08|110.44 ± 0.33|
|walker2d-medium-v2|63.23 ± 16.24|67.34 ± 5.17|82.71 ± 4.78|68.52 ± 27.19|80.75 ± 3.28|80.91 ± 3.17|85.82 ± 0.77|87.47 ± 0.66|93.36 ± 1.38|67.63 ± 2.54|
|walker2d-medium-replay-v2|21.80 ± 10.15|54.35 ± 6.34|85.62 ± 4.01|80.62 ± 3.58|73.09 ± 13.22|82.15 ± 3.03|84.25 ± 2.25|78.99 ± 0.50|87.10 ± 2.78|59.86 ± 2.73|
|walker2d-medium-expert-v2|98.96 ± 15.98|108.70 ± 0.25|110.03 ± 0.36|111.44 ± 1.62|109.56 ± 0.39|111.72 ± 0.86|111.86 ± 0.43|114.93 ± 0.41|114.75 ± 0.74|107.11 ± 0.96|
| **locomotion average**       |50.40|69.29|76.45|79.39|78.28|81.63|89.74|83.52|92.92|73.84|
""",
    name="CORL last scores, Gym-MuJoCo",
    source=f"{CORL} / Last Scores / Gym-MuJoCo",
    columns=CORL_COLUMNS,
    total_members={"locomotion average": LOCOMOTION_V2},
    total_kind="mean",
    decimals=2,
    notes=("Score at the end of training (CORL stresses last, not best).",
           "The same README's last Adroit averages (not tabulated here): BC 48.18, TD3+BC 10.40, "
           "AWAC 55.71, CQL 1.53, IQL 53.43, ReBRAC 59.39."),
)

CORL_LAST_ANTMAZE = from_markdown(
    """
| **Task-Name**      |BC|10% BC|TD3+BC|AWAC|CQL|IQL|ReBRAC|SAC-N|EDAC|DT|
|--------------------|------------|--------|--------|--------|-----|-----|------|-------|------|----|
|antmaze-umaze-v2|55.25 ± 4.15|65.75 ± 5.26|70.75 ± 39.18|56.75 ± 9.09|92.75 ± 1.92|77.00 ± 5.52|97.75 ± 1.48|0.00 ± 0.00|0.00 ± 0.00|57.00 ± 9.82|
|antmaze-umaze-diverse-v2|47.25 ± 4.09|44.00 ± 1.00|44.75 ± 11.61|54.75 ± 8.01|37.25 ± 3.70|54.25 ± 5.54|83.50 ± 7.02|0.00 ± 0.00|0.00 ± 0.00|51.75 ± 0.43|
|antmaze-medium-play-v2|0.00 ± 0.00|2.00 ± 0.71|0.25 ± 0.43|0.00 ± 0.00|65.75 ± 11.61|65.75 ± 11.71|89.50 ± 3.35|0.00 ± 0.00|0.00 ± 0.00|0.00 ± 0.00|
|antmaze-medium-diverse-v2|0.75 ± 0.83|5.75 ± 9.39|0.25 ± 0.43|0.00 ± 0.00|67.25 ± 3.56|73.75 ± 5.45|83.50 ± 8.20|0.00 ± 0.00|0.00 ± 0.00|0.00 ± 0.00|
|antmaze-large-play-v2|0.00 ± 0.00|0.00 ± 0.00|0.00 ± 0.00|0.00 ± 0.00|20.75 ± 7.26|42.00 ± 4.53|52.25 ± 29.01|0.00 ± 0.00|0.00 ± 0.00|0.00 ± 0.00|
|antmaze-large-diverse-v2|0.00 ± 0.00|0.75 ± 0.83|0.00 ± 0.00|0.00 ± 0.00|20.50 ± 13.24|30.25 ± 3.63|64.00 ± 5.43|0.00 ± 0.00|0.00 ± 0.00|0.00 ± 0.00|
| **antmaze average**           | 17.21|19.71|19.33|18.58|50.71|57.17|78.42|0.00|0.00|18.12|
""",
    name="CORL last scores, AntMaze",
    source=f"{CORL} / Last Scores / Antmaze",
    columns=CORL_COLUMNS,
    total_members={"antmaze average": ANTMAZE_V2},
    total_kind="mean",
    decimals=2,
    notes=("AntMaze -v2 datasets, unlike the IQL paper's -v0.",),
)

CORL_BEST_GYM = from_markdown(
    """
| **Task-Name**      |BC|10% BC|TD3+BC|AWAC|CQL|IQL|ReBRAC|SAC-N|EDAC|DT|
|--------------------|------------|--------|--------|--------|-----|-----|------|-------|------|----|
|halfcheetah-medium-v2|43.60 ± 0.14|43.90 ± 0.13|48.93 ± 0.11|50.81 ± 0.15|47.62 ± 0.03|48.84 ± 0.07|65.62 ± 0.46|72.21 ± 0.31|69.72 ± 0.92|42.73 ± 0.10|
|halfcheetah-medium-replay-v2|40.52 ± 0.19|42.27 ± 0.46|45.84 ± 0.26|46.47 ± 0.26|46.43 ± 0.19|45.35 ± 0.08|52.22 ± 0.31|67.29 ± 0.34|66.55 ± 1.05|40.31 ± 0.28|
|halfcheetah-medium-expert-v2|79.69 ± 3.10|94.11 ± 0.22|96.59 ± 0.87|96.83 ± 0.23|97.04 ± 0.17|95.38 ± 0.17|108.89 ± 1.20|111.73 ± 0.47|110.62 ± 1.04|93.40 ± 0.21|
|hopper-medium-v2|69.04 ± 2.90|73.84 ± 0.37|70.44 ± 1.18|95.42 ± 3.67|70.80 ± 1.98|80.46 ± 3.09|103.19 ± 0.16|101.79 ± 0.20|103.26 ± 0.14|69.42 ± 3.64|
|hopper-medium-replay-v2|68.88 ± 10.33|90.57 ± 2.07|98.12 ± 1.16|101.47 ± 0.23|101.63 ± 0.55|102.69 ± 0.96|102.57 ± 0.45|103.83 ± 0.53|103.28 ± 0.49|88.74 ± 3.02|
|hopper-medium-expert-v2|90.63 ± 10.98|113.13 ± 0.16|113.22 ± 0.43|113.26 ± 0.49|112.84 ± 0.66|113.18 ± 0.38|113.16 ± 0.43|111.24 ± 0.15|111.80 ± 0.11|111.18 ± 0.21|
|walker2d-medium-v2|80.64 ± 0.91|82.05 ± 0.93|86.91 ± 0.28|85.86 ± 3.76|84.77 ± 0.20|87.58 ± 0.48|87.79 ± 0.19|90.17 ± 0.54|95.78 ± 1.07|74.70 ± 0.56|
|walker2d-medium-replay-v2|48.41 ± 7.61|76.09 ± 0.40|91.17 ± 0.72|86.70 ± 0.94|89.39 ± 0.88|89.94 ± 0.93|91.11 ± 0.63|85.18 ± 1.63|89.69 ± 1.39|68.22 ± 1.20|
|walker2d-medium-expert-v2|109.95 ± 0.62|109.90 ± 0.09|112.21 ± 0.06|113.40 ± 2.22|111.63 ± 0.38|113.06 ± 0.53|112.49 ± 0.18|116.93 ± 0.42|116.52 ± 0.75|108.71 ± 0.34|
| **locomotion average**       |    70.15|80.65|84.83|87.80|84.68|86.28|93.00|95.60|96.36|77.49|
""",
    name="CORL best scores, Gym-MuJoCo",
    source=f"{CORL} / Best Scores / Gym-MuJoCo",
    columns=CORL_COLUMNS,
    total_members={"locomotion average": LOCOMOTION_V2},
    total_kind="mean",
    decimals=2,
    notes=("Best evaluation over training: an optimistic number, not a target for final "
           "scores.",),
)

JAX_CORL = from_markdown(
    r"""
|env|AWAC|IQL|TD3+BC|CQL|XQL|DT|
|---|---|---|---|---|---|---|
|halfcheetah-medium-v2| $41.56\pm0.79$ |$46.23\pm0.23$   |$48.12\pm0.42$   |$48.65\pm 0.49$|$47.16\pm0.16$|$42.63 \pm 0.53$|
|halfcheetah-medium-expert-v2| $76.61\pm 9.60$ | $92.95\pm0.79$ | $92.99\pm 0.11$  |$53.76 \pm 14.53$|$86.33\pm4.89$|$70.63\pm 14.70$|
|hopper-medium-v2| $51.45\pm 5.40$  | $56.78\pm3.50$  | $46.51\pm4.57$  |$77.56\pm 7.12$|$62.35\pm5.42$|$60.85\pm6.78$|
|hopper-medium-expert-v2| $51.89\pm2.11$  | $90.72\pm 14.80$  |$105.47\pm5.03$   |$90.37 \pm 31.29$|$104.12\pm5.39$|$109.07\pm 4.56$|
|walker2d-medium-v2| $68.12\pm12.08$ | $77.16\pm5.74$  |  $72.73\pm4.66$ |$80.16\pm 4.19$|$83.45\pm0.42$|$71.04 \pm5.64$|
|walker2d-medium-expert-v2| $91.36\pm23.13$  | $109.08\pm0.77$  | $109.17\pm0.71$  |$110.03 \pm 0.72$|$110.06\pm0.22$|$99.81\pm17.73$|
""",
    name="JAX-CORL normalised scores",
    source="nissymori/JAX-CORL README.md, Reports for D4RL mujoco / Normalized Score",
    columns=("AWAC", "IQL", "TD3+BC", "CQL", "XQL", "DT"),
    decimals=2,
    notes=("Mean and std of the average normalised score of 5 episodes over 5 seeds.",),
)
