"""SMAC on the insertion family (issue 17 item 1 b; the analogue of SMAC's sparse Sawyer tasks),
sized for one shared CPU core.

  python experiments/smac.py --config=experiments/configs/smac_insertion.py --workdir=runs/smac_insertion
  ...:tiny  for a smoke run of every stage (a minute or two; numbers meaningless)

The family is `envs/insertion_family.py`: a kinematic peg-in-hole whose tasks are (socket 3 mm
from nominal in a direction from the seed, an ODA-suite connector: clearance, chamfer, depth),
neither observed; sparse reward 1 while inserted, horizon 30, 3-D position-delta actions.
PEARL (the data source) trains its critic on the family's dense shaping reward and its
encoder, buffers, evaluation and everything of SMAC on the sparse one (oyster's sparse-reward
recipe: `pearl.critic_reward = "shaped"`). SMAC's Table 2 Sawyer values are kept: AWR beta 0.3
(config beta 1 / 0.3), reward scale 1, lambda_pearl 0. Everything else is the point-robot
config's reduced budget (stated there), with the changes below, each with its reason.
"""

import numpy as np

from experiments.configs import smac_pointrobot


def get_config(variant: str = "default"):
  config = smac_pointrobot.get_config(variant)   # its tiny variant shrinks the shared sizes
  family = config.family
  family.name = "insertion"
  family.task_seed = 1337                 # the socket directions and connectors
  del family["reward_type"]               # one env reward: sparse (the shaping is PEARL's critic's)
  family.env = dict(max_angle=float(np.pi))  # socket directions on a half circle (see report)

  pearl = config.pearl
  pearl.critic_reward = "shaped"          # critic on the dense shaping, encoder on the sparse
  # Measured (2026-12-06, test post-adaptation, 10 test tasks x 4): reward scale 50 (the point
  # robot's) peaks at 6.9 after 25 iterations and falls to 0 by 30-40 (Q -1,200 and growing);
  # PEARL's default 5 rises steadily to 9.1 at 80 (of about 22 for a known socket).
  pearl.agent.reward_scale = 5.0
  config.data.rl_slice = "last"           # Ant's slice: the RL rows of the PEARL that inserts

  smac = config.smac
  smac.beta = 1.0 / 0.3                   # Table 2, Sawyer: AWR beta 0.3
  smac.reward_scale = 1.0                 # Table 2, Sawyer
  smac.lambda_pearl = 0.0                 # Table 2, Sawyer
  # gamma 0.9 (PEARL's data source keeps 0.99): an effective horizon of 10 steps inside the 30-step
  # episode (a known socket is inserted after 6-9). With 0.99 the sparse reward's values reach
  # 100, SMAC's critic was far from its fixed point after the offline phase (mean Q 0.4 -> 10
  # linearly over 5k updates, 20 after 3k more) and, as its scale grew, the AWR weights at beta
  # 0.3 sharpened onto a few rows (max weight 136 -> 188 of 512): the online phase's updates
  # alone, with no new data, took the return from 4.4 to 2.7, which was the fall seen online
  # (issue17_report, fourth session). With 0.9, Q levels off (3.6 at 5k, 4.3 at 10k).
  smac.discount = 0.9

  if variant == "default":
    family.num_train = 40                 # Sawyer: 50 / 10
    family.num_test = 10
    pearl.iterations = 80                 # a PEARL that inserts, terminated early
    config.data.rl_rows = 420             # 14 trajectories of 30 steps (point robot: 400)
    config.data.encoder_rows = 120        # 4 trajectories (point robot: 100)
    # Measured with gamma 0.9: after 5k offline updates the return still rose with more updates
    # alone (1.8 -> 4.1 over 3k), after 10k it no longer did (4.4 -> 4.7, within the noise).
    config.offline.steps = 10_000
    # 10 test tasks x 4 meta-episodes gave 5.47 [3.85, 5.70, 6.88] where x 20 gives 4.43 [3.27,
    # 5.72, 4.30] for the same states: 20 (evaluation is cheap next to training).
    config.eval.repeats = 20
    # SMAC, the oracle, and the control (the same updates, no new data): SMAC's rise above the
    # control is what the self-supervised data add.
    config.online.methods = ("smac", "oracle", "no_new_data")
  return config
