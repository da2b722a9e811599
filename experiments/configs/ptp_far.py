"""Planning to Practice on `far_tray_socket` (issue 19): tray_socket with the socket 0.6 m from
the tray instead of 0.3 m, 120-step episodes and the same 60-step play episodes of short
primitives (jaxinsert/envs/multistage.py FAR_TRAY_SOCKET), so that the final goal is beyond
every relabelled pair of the play data and a flat final-goal policy has to stitch or explore.

  python experiments/ptp.py --config=experiments/configs/ptp_far.py --workdir=runs/far

Changes from ptp_default (same sizes `default`, `smoke`, `tiny`):
- env: task far_tray_socket, max_episode_steps 120 (a staged solution takes 52-53 steps);
- collect: twice the play episodes (4000), so that the play density per metre of the doubled
  workspace is the default's;
- planner: 8 top-level subgoals (-> 16 -> 32 at dt 5) instead of 4, as the route is twice as
  long and a dt-20 jump covers about the same 7-8 cm of play motion; the subgoal timeout stays
  4 (32 x 4 = 128 >= 120 steps). The generators (dt 20/10/5) and everything else as the default.
"""

from experiments.configs import ptp_default


def get_config(size: str = "default"):
  config = ptp_default.get_config(size)
  config.env.task = "far_tray_socket"
  config.env.max_episode_steps = 120
  config.collect.num_episodes *= 2
  config.planner.top_subgoals = 8
  return config
