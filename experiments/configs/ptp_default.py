"""Planning to Practice on the multi-stage insertion task, sized for one CPU core.

  python experiments/ptp.py --config=experiments/configs/ptp_default.py --workdir=runs/ptp
  python experiments/ptp.py --config=experiments/configs/ptp_default.py:smoke --workdir=/tmp/ptp
  python experiments/ptp.py --config=experiments/configs/ptp_default.py \
      --config.env.task=tray_barrier_socket --workdir=runs/ptp_barrier

Sizes: `default` (the study), `smoke` (a few minutes), `tiny` (the CI pipeline test: every stage
runs, nothing is learnt). Tasks (`config.env.task`): see `jaxinsert.envs.multistage.ALL_TASKS`.

Thesis / reference-code values are named where used; the reductions for this machine are:
N = 256 MPPI samples in the study (1024 in the benchmark), generators at dt 20/10/5 on 60-step
episodes (the thesis's 60/30/15 on 400), 4 top-level subgoals -> 16 (the code's reading of K),
128-wide networks, 10k offline updates, 8 online iterations of 8 episodes and 500 updates.
"""

import ml_collections


def get_config(size: str = "default"):
  if size not in ("default", "smoke", "tiny"):
    raise ValueError(f"size must be 'default', 'smoke' or 'tiny', got {size!r}")
  tiny = size == "tiny"
  smoke = size == "smoke" or tiny
  config = ml_collections.ConfigDict()
  config.seed = 0
  config.num_seeds = 2 if tiny else 3       # goal-conditioned agents trained at once (vmap)
  config.models_per_seed = True             # each seed its own VAE and CVAEs (False: shared)

  config.env = ml_collections.ConfigDict()
  config.env.task = "tray_socket"           # or tray_barrier_socket, walled_socket
  config.env.max_episode_steps = 60         # lift, carry, align, insert takes >= 21 steps

  config.collect = ml_collections.ConfigDict()
  config.collect.num_episodes = 50 if tiny else 200 if smoke else 2000   # play episodes of chained primitives
  config.collect.action_noise = 0.3         # Gaussian noise on the scripted primitives

  # The latent space the generators, the value and the planner work in: "state" (the state VAE
  # below, the CPU default) or "image" (a conv VAE on rendered 48x48 views, image_vae below).
  config.latent_space = "state"
  # The state VAE's input scaling: False (default) each axis by its own std; True one scale, the
  # smallest axis std, for all axes (planning/vae.py VAEConfig.isotropic). It enters the models'
  # fingerprint only when True, so default workdirs keep theirs.
  config.isotropic_state_latent = False

  config.vae = ml_collections.ConfigDict()
  config.vae.latent_dim = 4                 # phi(s) size
  config.vae.hidden_dims = (128, 128)
  config.vae.kl_weight = 1e-3
  config.vae.num_steps = 20 if tiny else 200 if smoke else 3000

  config.image_vae = ml_collections.ConfigDict()   # used only with latent_space = "image"
  config.image_vae.image_size = 48          # thesis 48x48 (its VQ-VAE latent is 12x12x5)
  config.image_vae.channels = (16, 32)      # stride-2 4x4 convolutions, 48 -> 24 -> 12
  config.image_vae.hidden_dim = 128
  config.image_vae.latent_dim = 4           # a vector latent, as the state VAE's
  config.image_vae.kl_weight = 1e-3
  config.image_vae.batch_size = 64
  config.image_vae.num_steps = 20 if tiny else 200 if smoke else 3000

  config.cvae = ml_collections.ConfigDict()
  config.cvae.dts = (20, 10, 5)             # coarse to fine (thesis 60/30/15 at 400 steps)
  config.cvae.dt_tolerances = (4, 4, 2)     # code: 10/10/5
  config.cvae.rollout_steps = (2, 3, 3)     # multi-step loss sequence length per level
  config.cvae.z_dim = 4                     # thesis 8 (on a 720-d latent)
  config.cvae.hidden_dims = (128, 128)     # reduced for one CPU core
  config.cvae.num_steps = 20 if tiny else 200 if smoke else 3000
  config.cvae.batch_size = 256

  # GCP baseline (modes "gcp"): the midpoint predictor m(s, g), bisected to the plan length.
  config.gcp = ml_collections.ConfigDict()
  config.gcp.min_half_span = 1              # k of the (s_t, s_t+k, s_t+2k) training triplets
  config.gcp.max_half_span = 20 if tiny else 30   # 2k at most the 60-step play episode
  config.gcp.z_dim = 4
  config.gcp.hidden_dims = (128, 128)
  config.gcp.num_steps = 20 if tiny else 200 if smoke else 3000
  config.gcp.batch_size = 256

  config.agent = ml_collections.ConfigDict()  # overrides of jaxinsert/agents/gciql.py defaults
  config.agent.hidden_dims = (64, 64) if smoke else (128, 128)  # code 256; one CPU core
  config.agent.reward_threshold = 0.15      # latent eps (about 5 mm of depth, 2 cm laterally)
  # Hard-negative goals (jaxinsert/agents/gciql.py), off: with nearby_fraction = 0.3 the 30% of
  # offline rows not relabelled with a future state take the latent-nearest of 8 states of other
  # episodes instead of goals from anywhere, counted unreachable (reward -20, terminal) unless
  # reached. With planner.values_weight = 0.3 that makes the offline plans on walled_socket see
  # the pit wall (PTP offline 0/96 -> 13/96), but finetuning from such agents collapses on
  # tray_socket (0.99 -> 0.00), so it is not the default (issue19_report.md, 2026-12-06 third).
  config.agent.nearby_fraction = 0.0
  config.agent.nearby_candidates = 8
  config.agent.nearby_failure_reward = -20.0
  config.agent.nearby_train_actor = True
  config.batch_size = 256                   # reference code (thesis: 1024)
  config.offline_steps = 20 if tiny else 200 if smoke else 10_000

  config.planner = ml_collections.ConfigDict()
  config.planner.num_samples = 16 if tiny else 64 if smoke else 256
  config.planner.noise_levels = (1.0, 0.5, 0.2, 0.1, 0.1)  # reference code
  config.planner.temperature = 0.1          # reference code
  config.planner.values_weight = 0.01       # eta (thesis 12.6.2); 0.3 with hard negatives
  config.planner.prior_weight = 0.01        # reference code
  # 4 -> 8 -> 16 subgoals (L = 3, M = 2). Was 2 (-> 8 subgoals, timeout 6): with 8, the dt-20
  # generator must cover tray-to-socket in two jumps, far beyond the play data's reach, and
  # every plan cut through the tray walls (docs/notes/issue19_report.md, 2026-12-02 05:30).
  config.planner.top_subgoals = 4
  config.planner.multiplier = 2
  # Steps on a subgoal before the next; reached subgoals switch at once, so 16 x 4 > 60 is
  # fine (the code: 30 at dt 15).
  config.planner.subgoal_timeout = 4
  config.planner.reach_threshold = 0.2      # latent distance at which a subgoal counts reached

  config.eval = ml_collections.ConfigDict()
  config.eval.episodes = 4 if tiny else 8 if smoke else 32  # per seed and evaluation
  # Modes (jaxinsert/planning/modes.py): ptp, ptp_no_buffer, ptp_flat, leap, gcp, final_goal.
  config.eval.offline_modes = (("ptp", "final_goal") if tiny else
                               ("ptp", "ptp_no_buffer", "ptp_flat", "leap", "gcp", "final_goal"))

  config.finetune = ml_collections.ConfigDict()
  config.finetune.iterations = 1 if tiny else 2 if smoke else 8
  config.finetune.episodes_per_iteration = 2 if tiny else 4 if smoke else 8
  config.finetune.updates_per_iteration = 5 if tiny else 50 if smoke else 500
  # Methods finetuned (each from the same offline agents); any of the modes above. The study of
  # all baselines: ("ptp", "ptp_no_buffer", "ptp_flat", "leap", "gcp", "final_goal").
  config.finetune.methods = ("ptp", "final_goal")
  config.finetune.online_fraction = 0.6     # reference code sample_online_fraction
  # Hard-negative goals (agent.nearby_fraction) in the offline rows while finetuning too.
  config.finetune.hard_negatives = True
  config.finetune.eval_every = 1 if smoke else 2
  return config
