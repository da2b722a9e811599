"""Safety limits and connection settings of a KUKA LBR iiwa (FRI-style exchange or iiwa_stack).

Box and steps as the Sawyer's (SERL peg box); iiwa14 joint limits from lbr_fri_ros2_stack's
joint_limits.yaml (+-170/120/170/120/170/120/175 deg) would go in `joint_*_rad` for joint-space
commands; the simulated carriage's joints are metres and radians of a Cartesian stage, so the
simulated config leaves them open.
"""

import math

from experiments.configs.robots import sawyer


def get_config():
  config = sawyer.get_config()
  config.kind = "iiwa_fri"                      # or "iiwa_ros" (iiwa_stack topics)
  del config["command_timeout_s"]
  config.fri_cycle_s = 0.005                    # FRI send period [s] (200 Hz)
  config.fri_max_missed_cycles = 20             # robot leaves commanding after this many
  config.iiwa14_joint_limits_rad = tuple(math.radians(d) for d in (170, 120, 170, 120, 170, 120, 175))
  return config
