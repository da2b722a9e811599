"""Planning to Practice (thesis ch. 12): latent subgoal planning for goal-conditioned policies.

  mppi.py    the MPPI subgoal planner (flat and hierarchical) and its cost, eq. (61) with the
             corrected sign
  buffer.py  the latent plan buffer that seeds MPPI's initial samples
  runner.py  subgoal switching along an episode (timeout or reached)
  vae.py     the state VAE whose latent space the generators and the value work in
  cvae.py    the conditional subgoal generators g_l(s, z), one per temporal distance
"""
