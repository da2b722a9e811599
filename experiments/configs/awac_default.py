"""AWAC offline then online, MuJoCo settings (thesis Table 16): `jaxinsert.benchmarks.d4rl.presets`."""

from jaxinsert.benchmarks.d4rl.presets import awac_mujoco as get_config  # noqa: F401
