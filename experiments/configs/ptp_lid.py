"""Planning to Practice on `lid_socket` (issue 19): tray_socket with a sliding lid over the hole
(jaxinsert/envs/lid.py SlidingLid). The plug must go down beside the lid and push it open
sideways before it can come back above the hole and insert; progress towards the final goal (the
tip at the bottom of the hole, the lid open) leads onto the closed lid. The state is (4,): tip
xyz + lid offset, metres.

  python experiments/ptp.py --config=experiments/configs/ptp_lid.py --workdir=runs/lid

Changes from ptp_default (same sizes `default`, `smoke`, `tiny`): env.task only. The scripted
solution takes 38-39 of the 60 steps (tray_socket's staged one 32-33), so the episode length,
the play data's size and the planner's 16 subgoals x 4-step timeout stay the default's.
"""

from experiments.configs import ptp_default


def get_config(size: str = "default"):
  config = ptp_default.get_config(size)
  config.env.task = "lid_socket"
  return config
