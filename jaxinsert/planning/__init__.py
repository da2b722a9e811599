"""Planning to Practice (thesis ch. 12): latent subgoal planning for goal-conditioned policies.

  mppi.py    the MPPI subgoal planner (flat and hierarchical) and its cost, eq. (61) with the
             corrected sign
  buffer.py  the latent plan buffer that seeds MPPI's initial samples
  runner.py  subgoal switching along an episode (timeout or reached)
  vae.py     the state VAE whose latent space the generators and the value work in
  image_vae.py  the option: a conv VAE on rendered 48x48 views of the scene
  cvae.py    the conditional subgoal generators g_l(s, z), one per temporal distance
  gcp.py     the GCP baseline's midpoint predictor m(s, g)
  modes.py   PTP, its ablations and the baselines (LEAP-style prior, GCP) behind one function
"""
