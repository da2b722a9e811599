"""Scripted controllers, the residual wrapper and the action-noise injector, as pure JAX.

A policy is `policy(key, obs, context) -> action` for ONE environment (vmap it for a batch):
`obs` is the flat observation (nominal socket frame), `context` a dict with "task"
(`TaskParams`), "step_count" and "privileged" (`insertion.privileged_info`). Only the LOTJ
collector reads "privileged" (it stands for the calibrated socket pose of the real data
collection); the others act on the observation and the nominal goal, as a real robot would.
Controllers compute a desired Cartesian displacement in metres; `to_action` maps it to the
environment's normalised action ("move": / move_m; "twist": / (speed * policy_dt)).
"""

from __future__ import annotations

from typing import Callable, Dict, Sequence

import jax
import jax.numpy as jnp

from jaxinsert.envs import insertion

Policy = Callable[[jax.Array, jax.Array, Dict], jax.Array]
PRESS_FORCE_N = 1.0  # f_z above this means the plug is pressing on something


def to_action(displacement_m: jax.Array, config: insertion.TaskConfig, obs=None,
              upright_angles=None) -> jax.Array:
  """Normalised action for a desired xyz displacement per policy step, orientation upright.

  "move" holds the orientation itself; for "twist" the angular part turns the gripper back
  to `upright_angles` (default 0: upright in the nominal frame) from the angles in `obs` (zero
  angular velocity without `obs`)."""
  if config.action_mode == "move":
    return jnp.clip(displacement_m / config.move_m, -1.0, 1.0)
  dt = config.scene.policy_dt_s
  angles = jnp.zeros(3) if obs is None else insertion.split_observation(obs)["tcp_pose_in_socket"][3:]
  if upright_angles is not None:
    angles = angles - upright_angles
  return jnp.concatenate([
      jnp.clip(displacement_m / (config.linear_speed_m_per_s * dt), -1.0, 1.0),
      jnp.clip(-angles / (config.angular_speed_rad_per_s * dt), -1.0, 1.0)])


def _tip(obs: jax.Array) -> jax.Array:
  return insertion.split_observation(obs)["tcp_pose_in_socket"][:3]


def _nominal_goal(task) -> jax.Array:
  return jnp.stack([jnp.zeros_like(task.depth_m), jnp.zeros_like(task.depth_m), -task.depth_m])


def p_controller(config: insertion.TaskConfig, kp: Sequence[float] = (1.0, 1.0, 0.3)) -> Policy:
  """Chapter 9's pi_H(s) = -kp (x - x*), with x* the nominal fully inserted pose."""
  gains = jnp.asarray(kp, jnp.float32)

  def act(key, obs, context):
    del key
    return to_action(-gains * (_tip(obs) - _nominal_goal(context["task"])), config, obs)
  return act


def straight_down(config: insertion.TaskConfig) -> Policy:
  def act(key, obs, context):
    del key, context
    return to_action(jnp.array([0.0, 0.0, -1.0]), config, obs)
  return act


def centerline_then_down(config: insertion.TaskConfig, random_probability: float = 0.2,
                         tolerance_m: float = 1e-3, random_scale: float = 0.5) -> Policy:
  """LOTJ's collector: toward the socket centreline until within 1 mm, then down; a uniform
  random action in [-random_scale, random_scale] with probability `random_probability` (the
  seed gives no magnitude; half the range keeps >= 95% success on nominal starts). Uses the
  calibrated (true) pose, yaw included."""
  def act(key, obs, context):
    tip = context["privileged"]["tip_in_socket"]
    lateral = tip[:2]
    aligned = jnp.max(jnp.abs(lateral)) <= tolerance_m
    # Once over the centreline it keeps centring while it goes down: wedged plugs recover.
    displacement = jnp.concatenate([-lateral, jnp.where(aligned, -1.0, 0.0)[None]])
    yaw = jnp.asarray(context["privileged"].get("socket_yaw_in_nominal", 0.0), jnp.float32)
    scripted = to_action(displacement, config, obs, jnp.stack([0.0, 0.0, yaw]))
    k_coin, k_random = jax.random.split(key)
    random_action = jax.random.uniform(k_random, scripted.shape, minval=-random_scale,
                                       maxval=random_scale)
    return jnp.where(jax.random.uniform(k_coin) < random_probability, random_action, scripted)
  return act


def _search_centre(centre: str, context) -> jax.Array:
  """Where a search is centred: the nominal centreline, or the tip's xy at the episode's start
  (`context["start_tip"]`, which the caller records at reset), for a searcher that does not
  know where the socket is (LOTJ's search baselines start from the initial position)."""
  if centre == "nominal":
    return jnp.zeros(2)
  if centre == "start":
    return context["start_tip"][:2]
  raise ValueError(f"search centre must be 'nominal' or 'start', got {centre!r}")


def random_search(config: insertion.TaskConfig, radius_m: float = 2e-3, points: int = 5,
                  dwell_steps: int = 2, centre: str = "nominal") -> Policy:
  """Straight down; once pressing, visit `points` random xy points (within `radius_m` of the
  centre, `dwell_steps` each, seeded by the task) while pressing down."""
  def act(key, obs, context):
    del key
    features = insertion.split_observation(obs)
    pressing = features["wrench"][2] > PRESS_FORCE_N
    index = (context["step_count"] // dwell_steps) % points
    point_key = jax.random.fold_in(jax.random.PRNGKey(17), index)
    point = _search_centre(centre, context) + jax.random.uniform(
        point_key, (2,), minval=-radius_m, maxval=radius_m)
    lateral = jnp.where(pressing, point - _tip(obs)[:2], jnp.zeros(2))
    return to_action(jnp.concatenate([lateral, jnp.array([-2e-3])]), config, obs)
  return act


def spiral_search(config: insertion.TaskConfig, pitch_m: float = 0.4e-3,
                  step_rad: float = 0.8, centre: str = "nominal") -> Policy:
  """Straight down, then an Archimedean spiral around the centre while pressing."""
  def act(key, obs, context):
    del key
    angle = step_rad * context["step_count"].astype(jnp.float32)
    radius = pitch_m * angle / (2 * jnp.pi)
    point = _search_centre(centre, context) + radius * jnp.array([jnp.cos(angle), jnp.sin(angle)])
    return to_action(jnp.concatenate([point - _tip(obs)[:2], jnp.array([-2e-3])]), config, obs)
  return act


def residual(base: Policy, residual_policy: Policy) -> Callable:
  """Residual RL (eq. 45/49): executes u = pi_H(s) + pi_theta(s).

  Returns `act(key, obs, context) -> (executed_action, residual_action)`; store the residual
  in the replay buffer (Algorithm 6 line 8), execute the sum (clipped to [-1, 1]).
  """
  def act(key, obs, context):
    k_base, k_residual = jax.random.split(key)
    residual_action = residual_policy(k_residual, obs, context)
    executed = jnp.clip(base(k_base, obs, context) + residual_action, -1.0, 1.0)
    return executed, residual_action
  return act


def with_action_noise(policy: Policy, mean: float = 0.0, stddev: float = 0.05) -> Policy:
  """Eq. 46: u' = u + N(mean, stddev^2) on the executed action (noise and bias tests)."""
  def act(key, obs, context):
    k_policy, k_noise = jax.random.split(key)
    action = policy(k_policy, obs, context)
    noise = mean + stddev * jax.random.normal(k_noise, action.shape)
    return jnp.clip(action + noise, -1.0, 1.0)
  return act


def zero_policy(config: insertion.TaskConfig) -> Policy:
  def act(key, obs, context):
    del key, obs, context
    return jnp.zeros(config.action_dim, jnp.float32)
  return act


SCRIPTED = {
    "p_controller": p_controller,
    "straight_down": straight_down,
    "collector": centerline_then_down,
    "random_search": random_search,
    "spiral_search": spiral_search,
    "zero": zero_policy,
}


def make_policy(name: str, config: insertion.TaskConfig, **kwargs) -> Policy:
  if name not in SCRIPTED:
    raise KeyError(f"unknown scripted policy {name!r}; known: {sorted(SCRIPTED)}")
  return SCRIPTED[name](config, **kwargs)


def batched(policy: Policy) -> Callable:
  """jit(vmap(policy)) over (keys, obs, context) with a leading environment axis."""
  return jax.jit(jax.vmap(policy))
