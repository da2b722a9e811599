"""Behaviour cloning baseline (thesis Table 1 "BC"): `jaxinsert.benchmarks.d4rl.presets`."""

from jaxinsert.benchmarks.d4rl.presets import bc as get_config  # noqa: F401
