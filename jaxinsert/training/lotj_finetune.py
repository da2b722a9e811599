"""LOTJ's self-rewarding online finetuning (seed 001 section IV-D; digest B7, LOTJ-6).

The learner never sees the true reward. `HiddenRewardEnv` wraps an image environment and hands
the learner images and time-limit ends only; the simulator's success goes to a private log used
for reporting. `observe` has no reward argument: it labels each transition itself with
r = 1[R(s') > 0.5], R frozen in mean mode (B14.6: SERL also thresholds at 0.5), and ends the
transition there (mask = 1 - r), as the offline data ends on success. Updates mix a fixed 75%
of offline rows (random-shifted) with 25% online rows (not augmented) from separate buffers, on
an agent whose representation is frozen (`agents.lotj.freeze_representation`).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Dict, List, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from jaxinsert.agents import iql, lotj, reward_classifier, sac
from jaxinsert.data import replay, samplers
from jaxinsert.types import Spec, Transition

OFFLINE_RATIO = 0.75   # paper: 75% offline (augmented) / 25% online (not augmented)


# The agents that practise: LOTJ's image IQL (representation frozen), the "SAC from vision"
# baseline (image SAC, every parameter trained online, as SAC from pixels is finetuned), and
# state IQL (the bias probe's stand-in for a precise perception, `lotj_rl.ShiftedStateEnv`).
AGENTS = {"lotj": lotj, "sac": sac, "iql": iql}


@struct.dataclass
class SelfRewardingLearner:
  agent: Any                      # lotj.LOTJState or sac.SACState (`agent_name`)
  reward: reward_classifier.RewardState
  online: replay.ReplayBuffer
  reward_offset: float = struct.field(pytree_node=False, default=0.0)
  agent_name: str = struct.field(pytree_node=False, default="lotj")


def start(agent, reward: reward_classifier.RewardState, spec: Spec, capacity: int,
          reward_offset: float = 0.0, agent_name: str = "lotj") -> SelfRewardingLearner:
  """The learner from an offline-trained agent and reward model (LOTJ's with its representation
  frozen). `reward_offset` is added to every 0/1 label, as it was to the offline data's rewards."""
  if agent_name not in AGENTS:
    raise ValueError(f"agent_name must be one of {sorted(AGENTS)}, got {agent_name!r}")
  if agent_name == "lotj" and not agent.config.freeze_representation:
    agent = lotj.freeze_representation(agent)
  return SelfRewardingLearner(agent, reward, replay.init(spec, capacity), float(reward_offset),
                              agent_name)


def label(reward: reward_classifier.RewardState, next_obs: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """(reward, mask) the learner assigns from the next images alone."""
  predicted = (reward_classifier.probability(reward, next_obs) > 0.5).astype(jnp.float32)
  return predicted, 1.0 - predicted


def observe(learner: SelfRewardingLearner, obs: jax.Array, action: jax.Array,
            next_obs: jax.Array) -> SelfRewardingLearner:
  """Adds a batch of (s, a, s') to the online buffer with self-generated rewards."""
  reward, _ = label(learner.reward, next_obs)
  return observe_labelled(learner, obs, action, next_obs, reward)


def observe_labelled(learner: SelfRewardingLearner, obs: jax.Array, action: jax.Array,
                     next_obs: jax.Array, reward: jax.Array) -> SelfRewardingLearner:
  """Adds (s, a, s') labelled with success `reward` (0/1, stored plus the learner's offset),
  which ends the transition on a success."""
  transitions = Transition(obs=obs, action=action, reward=reward + learner.reward_offset,
                           mask=1.0 - reward, next_obs=next_obs)
  return learner.replace(online=replay.add(learner.online, transitions))


def update(learner: SelfRewardingLearner, offline: Transition, key: jax.Array, batch_size: int,
           shift_pad: int = 2, offline_ratio: float = OFFLINE_RATIO
           ) -> Tuple[SelfRewardingLearner, Dict[str, jax.Array]]:
  sample_key, update_key = jax.random.split(key)
  batch = samplers.mixed(offline, learner.online, sample_key, batch_size, offline_ratio,
                         offline_augment=samplers.shift_observations(shift_pad) if shift_pad else None)
  agent, metrics = AGENTS[learner.agent_name].update(learner.agent, batch, update_key)
  return learner.replace(agent=agent), metrics


class HiddenRewardEnv:
  """An image `VectorEnv` seen by the learner: `reset` and `step` return images and time-limit
  ends only. The true success of every step is appended to `success_log` for reports."""

  def __init__(self, env):
    if getattr(env, "obs_mode", None) != "image":
      raise ValueError("HiddenRewardEnv needs an image environment (obs_mode='image')")
    if env.config.terminate_on_success:
      raise ValueError("episodes must not end on the true success (the learner would read it "
                       "from the reset): make the env with terminate_on_success=False")
    self._env = env
    self.num_envs = env.num_envs
    self.success_log: List[np.ndarray] = []

  def reset(self, seed: int) -> np.ndarray:
    return self._env.reset(seed)

  def step(self, actions: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(next images before any reset, images to act from next, time-limit end flags)."""
    obs, _, _, truncated, info = self._env.step(actions)
    self.success_log.append(np.asarray(info["success"]))
    return np.asarray(info["final_obs"]), obs, np.asarray(truncated)


def run_trials(learner: SelfRewardingLearner, env: HiddenRewardEnv, offline: Transition,
               trials_per_env: int, steps_per_trial: int, updates_per_step: int, batch_size: int,
               seed: int, act_noise: float = 0.1, shift_pad: int = 2,
               on_trial_end: Callable[[int, SelfRewardingLearner], None] = None,
               true_reward: bool = False, offline_ratio: float = OFFLINE_RATIO
               ) -> SelfRewardingLearner:
  """Online practice: every environment runs `trials_per_env` trials of `steps_per_trial` steps
  with the policy's mean plus Gaussian noise `act_noise`, updating after each step.

  A trial ends for an environment when the learner labels a success (R(s') > 0.5), as a robot
  stops when it believes it has inserted (the offline episodes end there too): that environment
  holds still (zero action) until the batch's trials end together, and stores nothing more. Kept
  going, the moves made with the plug already in the socket were stored as successes and taught
  the policy to wander near the socket.

  `true_reward=True` is the upper bound of the paper's comparison, not LOTJ: transitions are
  labelled with the simulator's success from the environment's log instead of R(s').
  `offline_ratio` is the paper's 75% unless a probe changes it."""
  key = jax.random.PRNGKey(seed)

  @jax.jit
  def act(agent, obs, key):
    mean = AGENTS[learner.agent_name].act(agent, obs, key, True)
    return jnp.clip(mean + act_noise * jax.random.normal(key, mean.shape), -1.0, 1.0)

  label_jit = jax.jit(label)
  observe_labelled_jit = jax.jit(observe_labelled)
  update_jit = jax.jit(functools.partial(update, shift_pad=shift_pad, offline_ratio=offline_ratio),
                       static_argnums=(3,))
  obs = env.reset(seed)
  for trial in range(trials_per_env):
    active = np.ones(env.num_envs, bool)
    for _ in range(steps_per_trial):
      key, act_key, update_key = jax.random.split(key, 3)
      action = np.where(active[:, None], np.asarray(act(learner.agent, jnp.asarray(obs), act_key)),
                        0.0).astype(np.float32)
      next_obs, following_obs, _ = env.step(action)
      if true_reward:
        success = np.asarray(env.success_log[-1], np.float32)
      else:
        success = np.asarray(label_jit(learner.reward, jnp.asarray(next_obs))[0])
      rows = np.flatnonzero(active)
      if rows.size:
        learner = observe_labelled_jit(learner, jnp.asarray(obs[rows]), jnp.asarray(action[rows]),
                                       jnp.asarray(next_obs[rows]), jnp.asarray(success[rows]))
      active &= success < 0.5
      for update_key in jax.random.split(update_key, updates_per_step):
        learner, _ = update_jit(learner, offline, update_key, batch_size)
      obs = following_obs
    if on_trial_end is not None:
      on_trial_end(trial, learner)
  return learner
