"""Safety limits and connection settings of a Sawyer (and of the simulated one).

The box and steps follow SERL's peg box (xy +-5 cm around the socket, z from the socket face
to +10 cm; 2 cm per step at most) in the base frame of `socket_in_base_m`; the watchdog deadline
is one 10 Hz period; intera's joint command timeout is its own 0.2 s.
"""

import ml_collections

SOCKET_IN_BASE_M = (0.6, 0.0, 0.1)


def get_config():
  config = ml_collections.ConfigDict()
  config.kind = "sawyer"
  config.socket_in_base_m = SOCKET_IN_BASE_M     # socket origin in the base frame [m] (calibration)
  config.command_timeout_s = 0.2                 # intera joint_command_timeout [s]
  config.limits = ml_collections.ConfigDict()
  x, y, z = SOCKET_IN_BASE_M
  config.limits.workspace_min_m = (x - 0.05, y - 0.05, z - 0.03)  # 3 cm below the face: inserted
  config.limits.workspace_max_m = (x + 0.05, y + 0.05, z + 0.10)
  config.limits.max_step_m = 0.02               # per axis per period [m]
  config.limits.max_step_rad = 0.1
  config.limits.max_speed_m_per_s = 0.2         # commanded twist per axis
  config.limits.max_angular_speed_rad_per_s = 1.0
  config.limits.max_measured_speed_m_per_s = 0.5
  config.limits.max_force_n = 40.0              # retreat above this measured force [N]
  config.limits.max_torque_nm = 4.0
  config.limits.hard_force_n = 100.0            # e-stop above this [N]
  config.limits.retreat_m = 0.002
  config.limits.retreat_steps = 2
  config.limits.deadline_s = 0.1                # one 10 Hz period
  config.limits.max_state_age_s = 0.5
  config.limits.stuck_samples = 5
  return config
