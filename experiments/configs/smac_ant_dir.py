"""SMAC on Ant-Dir (seed 003 Table 2; PEARL's task), at a reduced budget (Cheetah-Vel's, PEARL longer).

  python experiments/smac.py --config=experiments/configs/smac_ant_dir.py --workdir=runs/smac_ant_dir
  ...:tiny  for a smoke run of every stage (minutes; numbers meaningless)

The body is gymnasium's Ant-v5 model on MuJoCo's C library (`envs/ant_dir.py`;
`--config.family.env.backend=mjx` on an accelerator), reward PEARL's AntDirEnv (forward
progress along the task's direction, control and contact costs, survive bonus), directions
~ U[0, 2 pi) from the seed, horizon 200. Changed from the paper's MuJoCo values: AWR beta 10
(config beta **0.1**; paper 100) and lambda_pearl **0** (Table 2's Sawyer value; paper 1 on
MuJoCo): with lambda_pearl 1 both SMAC and the oracle collapse at the start of the online phase,
and beta 0.1 is what makes online contexts drift from the prior (Fig. 2). Found on config seed
0 (the seventh session's probes), confirmed pre-registered on config seed 100 (2026-12-07).
Kept from the paper: reward scale 5, the **last** 1200 RL and last 400 encoder rows per task (App.
C.2: Ant loads the RL buffer's last 1200, Cheetah its first), the encoder buffer not frozen
online (the paper freezes it for Cheetah only). Reduced against the paper, the cuts of
`smac_cheetah_vel.py` (stated there) except where said: 20 train / 10 test directions (paper 100
pre-sampled), 128x2 networks, PEARL **300** iterations of 5 tasks x (1 prior + 2 posterior)
trajectories and 1000 updates (paper 100 iterations of >= 1000 transitions and 2000 updates;
Cheetah 200), SMAC KL weight **0.01** (the code's 0.1 collapsed the encoder here), 10k offline
updates, 20 online iterations of 5 tasks x 2 prior-z trajectories and 1000 updates, SMAC and
the oracle online (no control, for time). Budget and results: docs/notes/issue17_report.md,
"2026-12-06 sixth session: Ant-Dir".
"""

from experiments.configs import smac_cheetah_vel


def get_config(variant: str = "default"):
  config = smac_cheetah_vel.get_config(variant)   # its tiny variant shrinks the same fields
  config.family.name = "ant-dir"
  config.family.env.max_angle = 6.283185307179586  # 2 pi: the whole circle (rlkit sample_tasks)
  config.data.rl_slice = "last"                    # App. C.2: the last 1200 RL rows for Ant
  if variant == "default":
    config.data.rl_rows = 1200
    # 60 x 500 (5b2afcd) learned nothing (post-adaptation 176, below the 200 that standing still
    # earns). Ant needs more samples than Cheetah, and one PEARL iteration costs 6.4 s here at
    # 1,000 updates (2.4 s of it collection; measured 2026-12-06 on one core, full-capacity
    # buffers), so 300 x 1,000 (~33 min) fits the 3-hour study where the control does not also.
    config.pearl.iterations = 300
  # 0.1 (the code's) collapsed q(z|h) onto the prior on Ant (KL 0.006 nats); on Cheetah 0.01
  # tripled the KL (0.92 -> 2.95 nats), halved the reward loss and left the return unchanged.
  config.smac.kl_weight = 0.01
  # Seventh-session probes on config seed 0, then pre-registered on config seed 100 (issue17_report,
  # "2026-12-07"): lambda_pearl 1 made both online methods fall to ~-300 at 10k steps; beta 0.01
  # left the Fig. 2 shift reversed (online-context KL 3.0-3.4 < offline 3.7).
  config.smac.beta = 0.1
  config.smac.lambda_pearl = 0.0
  # The no-new-data control is left out for time (Cheetah's study ran it; it falls there).
  config.online.methods = ("smac", "oracle")
  config.online.freeze_encoder_buffer = False      # frozen for Cheetah only (B.8 #9)
  return config
