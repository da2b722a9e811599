"""IQL on MuJoCo locomotion (thesis ch. 7, appendix E.2): `jaxinsert.benchmarks.d4rl.presets`."""

from jaxinsert.benchmarks.d4rl.presets import iql_locomotion as get_config  # noqa: F401
