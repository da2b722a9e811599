"""A 2-D point-mass reach task and its scripted datasets: the built-in quick-start problem.

A point mass in the box [-1, 1]^2 m is accelerated by the action (in [-1, 1]^2, scaled to
`max_acceleration_mps2`) and must reach a goal disc. Observation (6,): position_m (2),
velocity_mps (2), goal_m (2). The episode terminates on reaching the goal and is truncated
after `max_episode_steps`. Reward: sparse 1 on reaching the goal, or dense -distance.

"pointmass-mixed" (see `make_dataset`) is built so that imitation is not enough: the scripted
controllers head to the goal or, more often, to a decoy mirrored across the start's axis, plus
random episodes. Behaviour cloning follows the majority to the decoy; an offline RL agent that
weights actions by their value picks the goal branch.

`load_builtin_dataset(name, key)` serves "pointmass-mixed" and "pointmass-expert" to the
training loops; `make_env(**overrides)` is the "pointmass" environment factory.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Tuple

import jax
import jax.numpy as jnp

from jaxinsert.envs.base import EnvSpec, EnvState
from jaxinsert.envs.rollout import agent_spec, collect_episodes
from jaxinsert.types import Spec, Transition

# Composition of "pointmass-mixed": fractions of goal-directed, decoy-directed and uniform
# random episodes. The decoy branch is the majority, so cloning the data goes to the decoy;
# measured (64x64 nets, 5000 updates): BC 0/100 successes, IQL (0.9, 10.0) 100/100.
MIXED_FRACTIONS = (0.25, 0.5, 0.25)
# Gains of the scripted proportional-derivative controller, in action units per metre and per
# metre per second (reaches the goal from the start in ~20 steps without overshoot).
CONTROLLER_POSITION_GAIN = 2.0
CONTROLLER_VELOCITY_GAIN = 1.0


@dataclasses.dataclass(frozen=True)
class PointMass:
  goal_m: Tuple[float, float] = (0.6, 0.5)    # goal when `reset` gets no task
  goal_radius_m: float = 0.1                  # success when the distance is at most this
  start_m: Tuple[float, float] = (-0.6, 0.0)  # centre of the start region
  start_noise_m: float = 0.1                  # start is uniform within +-this of the centre
  reward_type: str = "sparse"                 # sparse (1 on reaching the goal) | dense (-distance)
  max_episode_steps: int = 50                 # time limit (truncation, not termination)
  control_period_s: float = 0.1               # seconds per step
  max_acceleration_mps2: float = 2.0          # acceleration at |action| = 1
  max_speed_mps: float = 1.0                  # speed limit per axis

  def __post_init__(self):
    if self.reward_type not in ("sparse", "dense"):
      raise ValueError(f"reward_type must be 'sparse' or 'dense', got {self.reward_type!r}")

  @property
  def spec(self) -> EnvSpec:
    return EnvSpec(obs_shape=(6,), action_dim=2, max_episode_steps=self.max_episode_steps)

  def reset(self, key: jax.Array, task: Any = None) -> EnvState:
    """`task` is the goal position (2,) in metres, or None for `goal_m`."""
    goal = jnp.asarray(self.goal_m if task is None else task, jnp.float32)
    start_key, key = jax.random.split(key)
    position = jnp.asarray(self.start_m, jnp.float32) + jax.random.uniform(
        start_key, (2,), minval=-self.start_noise_m, maxval=self.start_noise_m)
    physics = {"position_m": position, "velocity_mps": jnp.zeros(2)}
    false = jnp.bool_(False)
    return EnvState(physics=physics, task=goal, obs=self._obs(physics, goal),
                    reward=jnp.float32(0.0), terminal=false, truncated=false,
                    step_count=jnp.int32(0), key=key, privileged={"success": false})

  def step(self, state: EnvState, action: jax.Array) -> EnvState:
    dt = self.control_period_s
    acceleration = jnp.clip(action, -1.0, 1.0) * self.max_acceleration_mps2
    velocity = jnp.clip(state.physics["velocity_mps"] + acceleration * dt,
                        -self.max_speed_mps, self.max_speed_mps)
    unbounded = state.physics["position_m"] + velocity * dt
    position = jnp.clip(unbounded, -1.0, 1.0)
    # A wall stops the motion into it.
    velocity = jnp.where(unbounded == position, velocity, 0.0)
    physics = {"position_m": position, "velocity_mps": velocity}
    distance_m = jnp.linalg.norm(state.task - position)
    success = distance_m <= self.goal_radius_m
    reward = success.astype(jnp.float32) if self.reward_type == "sparse" else -distance_m
    step_count = state.step_count + 1
    return EnvState(physics=physics, task=state.task, obs=self._obs(physics, state.task),
                    reward=reward, terminal=success,
                    truncated=(step_count >= self.max_episode_steps) & ~success,
                    step_count=step_count, key=state.key, privileged={"success": success})

  @staticmethod
  def _obs(physics, goal) -> jax.Array:
    return jnp.concatenate([physics["position_m"], physics["velocity_mps"], goal])

  def decoy_m(self) -> jax.Array:
    """The goal mirrored across the horizontal line through the start."""
    goal = jnp.asarray(self.goal_m, jnp.float32)
    return goal.at[1].set(2.0 * self.start_m[1] - goal[1])


def scripted_action(position_m: jax.Array, velocity_mps: jax.Array, target_m: jax.Array
                    ) -> jax.Array:
  """Proportional-derivative go-to-target command, saturated to the action box."""
  command = (CONTROLLER_POSITION_GAIN * (target_m - position_m)
             - CONTROLLER_VELOCITY_GAIN * velocity_mps)
  return jnp.clip(command, -1.0, 1.0)


def scripted_behaviour(key: jax.Array, state: EnvState, params) -> jax.Array:
  """One episode's behaviour: the PD controller towards params["target_m"] plus Gaussian noise
  of std params["noise"], or, where params["random"], uniform random actions."""
  noise_key, random_key = jax.random.split(key)
  scripted = scripted_action(state.physics["position_m"], state.physics["velocity_mps"],
                             params["target_m"])
  scripted = scripted + params["noise"] * jax.random.normal(noise_key, (2,))
  uniform = jax.random.uniform(random_key, (2,), minval=-1.0, maxval=1.0)
  return jnp.where(params["random"], uniform, scripted)


def make_dataset(key: jax.Array, num_episodes: int, noise: float = 0.3,
                 env: PointMass = PointMass()) -> Transition:
  """The "mixed" dataset: goal-directed, decoy-directed and random episodes (MIXED_FRACTIONS).

  All scripted episodes carry Gaussian action noise of std `noise`.
  """
  goal_count = int(round(num_episodes * MIXED_FRACTIONS[0]))
  decoy_count = int(round(num_episodes * MIXED_FRACTIONS[1]))
  branch = jnp.arange(num_episodes)
  params = {
      "target_m": jnp.where((branch < goal_count)[:, None], jnp.asarray(env.goal_m),
                            env.decoy_m()),
      "random": branch >= goal_count + decoy_count,
      "noise": jnp.full((num_episodes,), noise),
  }
  return collect_episodes(env, scripted_behaviour, key, num_episodes, params)


def make_expert_dataset(key: jax.Array, num_episodes: int, noise: float = 0.3,
                        env: PointMass = PointMass()) -> Transition:
  """Goal-directed scripted episodes only (an imitation-friendly control dataset)."""
  params = {"target_m": jnp.broadcast_to(jnp.asarray(env.goal_m), (num_episodes, 2)),
            "random": jnp.zeros((num_episodes,), bool),
            "noise": jnp.full((num_episodes,), noise)}
  return collect_episodes(env, scripted_behaviour, key, num_episodes, params)


def make_env(**kwargs) -> PointMass:
  """The point mass with any field overridden (the training loops' factory for "pointmass")."""
  return PointMass(**kwargs)


# Built-in datasets: name -> generator(key). Generated on the fly from a key (one jitted
# rollout, a few seconds): no files, no network.
BUILTIN_EPISODES = 1000         # ~40k transitions for pointmass-mixed
BUILTIN_ACTION_NOISE = 0.3      # std of the scripted controllers' Gaussian action noise
_BUILTIN_DATASETS = {
    "pointmass-mixed": lambda key: make_dataset(key, BUILTIN_EPISODES, BUILTIN_ACTION_NOISE),
    "pointmass-expert": lambda key: make_expert_dataset(key, BUILTIN_EPISODES,
                                                        BUILTIN_ACTION_NOISE),
}
BUILTIN_DATASETS = tuple(_BUILTIN_DATASETS)


def load_builtin_dataset(name: str, key: jax.Array) -> Tuple[Transition, Spec]:
  """The named built-in dataset (`config.dataset.kind=builtin`) and its agent spec."""
  if name not in _BUILTIN_DATASETS:
    raise ValueError(f"unknown built-in dataset {name!r}; known: {', '.join(BUILTIN_DATASETS)}")
  return _BUILTIN_DATASETS[name](key), agent_spec(PointMass().spec)
