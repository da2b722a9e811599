"""SAC from scratch in a gymnasium MuJoCo environment: the behaviour policies of D4RL's protocol.

D4RL trained one SAC agent per environment (one environment, 1 update per env step, random
actions first) and kept policies and the replay buffer along the way. This loop does the same
with jaxinsert's SAC agent, with one difference for speed on a CPU: environment steps are taken
`train_every` at a time, then `train_every` updates run as one jitted scan (the usual
"update every 50 steps with 50 updates" schedule, same update-to-data ratio of 1). The updates
are ~95% of the time of a step on this CPU (profiled 2026-11-22); acting is one jitted call per
env step that also advances the key.

It writes into `workdir`:
  config.json                  the run's config (select_policies reads start_steps from it)
  snapshots/step_XXXXXXXX.npz  the actor every `snapshot_every` env steps (policy_io format),
                               with the stochastic policy's mean return over `eval_episodes`
  log.jsonl                    one line per snapshot (steps, returns, losses, env steps/s)
  checkpoints/<step>/          agent state, replay ring, key, wall clock and recent returns at
                               every snapshot, through the runs' own orbax checkpointer
                               (`jaxinsert.training.checkpoints`: atomic, digest-checked, the
                               newest two kept)
A run resumes from its newest checkpoint when started again on the same workdir (with a larger
`env_steps` or `stop_return` to go further; any other changed setting is refused, named). The
episode in progress is not stored: a resumed run starts a new one, so resuming is not
bit-for-bit (the stored transitions and the learner state are).

`jaxinsert.training.online.OnlineTrainer` could run SAC too (offline_steps=0, offline_ratio=0)
but it dispatches one jitted update call per env step, has no random warm-up phase and keeps no
policy snapshots, which D4RL's medium-replay and medium policies need.
"""

from __future__ import annotations

import json
import pathlib
import time
from typing import Any, Dict, Optional, Tuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm import tqdm

from jaxinsert.agents import sac
from jaxinsert.benchmarks.d4rl import policy_io
from jaxinsert.data import replay
from jaxinsert.training import checkpoints, environments, evaluation
from jaxinsert.training.offline import scan_updates
from jaxinsert.types import Spec, Transition

CHECKPOINTS = "checkpoints"
# The single-file format of runs started before the checkpoints above (2026-12-06, 45c9af3).
LEGACY_CHECKPOINT = "checkpoint.npz"
# Episode returns kept for the log's "train_return_last10".
_RECENT_RETURNS = 10


def default_config() -> ml_collections.ConfigDict:
  config = ml_collections.ConfigDict()
  config.agent = sac.get_config()       # Haarnoja et al. 2018b settings (see experiments/configs/sac_default.py)
  config.env_steps = 1_000_000          # D4RL trained its SAC agents for 1M steps
  config.start_steps = 10_000           # uniform random actions before the policy acts (SAC on MuJoCo)
  config.train_every = 50               # env steps per host round trip; as many updates follow
  config.batch_size = 256               # Haarnoja et al. 2018b, Table 1
  config.replay_capacity = 1_000_000    # Haarnoja et al. 2018b, Table 1
  config.snapshot_every = 5_000         # env steps between saved actors, evaluations and checkpoints
  config.eval_episodes = 5              # stochastic-policy episodes scored at each snapshot
  config.stop_return = 0.0              # stop after a snapshot scoring at least this (0 = off)
  config.seed = 0
  return config


def _make_update(batch_size: int, num_updates: int):
  def run(agent_state, buffer, key):
    return scan_updates(sac.update, lambda sample_key: replay.sample(buffer, sample_key, batch_size),
                        agent_state, key, num_updates)

  return jax.jit(run, donate_argnums=(0,))


@jax.jit
def _explore(agent_state, obs: jax.Array, key: jax.Array) -> Tuple[jax.Array, jax.Array]:
  """One stochastic action and the next key, in one dispatch (the per-step host cost)."""
  key, act_key = jax.random.split(key)
  return sac.act(agent_state, obs[None], act_key, False)[0], key


def evaluate_stored(env_id: str, policy: policy_io.StoredPolicy, episodes: int, seed: int,
                    deterministic: bool = False) -> np.ndarray:
  """Episode returns of a policy (stochastic by default: the behaviour that makes datasets).

  One environment per episode, stepped in lockstep by the host loop every gymnasium
  evaluation uses (`evaluation.evaluate_vector_env`); episode i is reset with `seed + i`.
  """
  act = policy_io.make_act(policy)
  key = jax.random.PRNGKey(seed)

  def sample(obs: np.ndarray) -> np.ndarray:
    nonlocal key
    key, act_key = jax.random.split(key)
    return act(obs, act_key, deterministic)

  vec_env = environments.GymnasiumVectorEnv(env_id, episodes)
  try:
    returns, _, _ = evaluation.evaluate_vector_env(vec_env, sample, episodes, seed)
  finally:
    vec_env.close()
  return returns


def train_sac(env_id: str, workdir: Any, config: Optional[ml_collections.ConfigDict] = None,
              progress: bool = True) -> Dict[str, Any]:
  """Trains SAC up to `config.env_steps` (resuming from the workdir's checkpoint if there is
  one), or until a snapshot's return reaches `config.stop_return`; returns the last log line."""
  config = config or default_config()
  if config.snapshot_every % config.train_every:
    raise ValueError(f"snapshot_every ({config.snapshot_every}) must be a multiple of train_every "
                     f"({config.train_every}): checkpoints are taken between update rounds")
  workdir = pathlib.Path(workdir)
  (workdir / "snapshots").mkdir(parents=True, exist_ok=True)
  (workdir / "config.json").write_text(config.to_json(indent=2) + "\n")
  env = environments.GymnasiumVectorEnv(env_id, 1)
  spec = Spec(obs_shape=env.spec.obs_shape, action_dim=env.spec.action_dim)
  key = jax.random.PRNGKey(config.seed)
  key, init_key = jax.random.split(key)
  agent_state = sac.create(config.agent, init_key, spec)
  buffer = replay.init(spec, config.replay_capacity)
  checkpointer = make_checkpointer(workdir, env_id, config)
  agent_state, buffer, key, first_step, elapsed_before, recent_returns = restore_checkpoint(
      checkpointer, agent_state, buffer, key)
  # Fresh buffers for every leaf: the jitted steps donate their inputs, and XLA refuses a buffer
  # passed twice (the target critic starts as the critic; the empty ring shares zero arrays).
  agent_state, buffer = jax.tree_util.tree_map(lambda x: jnp.array(x, copy=True), (agent_state, buffer))
  add = jax.jit(replay.add, donate_argnums=(0,))
  update = _make_update(config.batch_size, config.train_every)
  random_actions = np.random.default_rng([config.seed, first_step])
  meta_base = {"env_id": env_id, "action_dim": spec.action_dim, "obs_dim": int(spec.obs_shape[0]),
               "hidden_dims": list(config.agent.hidden_dims), "log_std_min": config.agent.log_std_min,
               "log_std_max": config.agent.log_std_max, "seed": config.seed,
               "trainer": "jaxinsert.benchmarks.d4rl.sac_training"}
  chunk = {name: [] for name in ("obs", "action", "reward", "mask", "next_obs")}
  obs = env.reset(config.seed + first_step)[0]
  episode_return, metrics, line = 0.0, {}, {}
  started = time.perf_counter() - elapsed_before
  log = open(workdir / "log.jsonl", "a")
  bar = tqdm(total=config.env_steps, initial=first_step, desc=f"SAC {env_id}", unit="env step",
             disable=not progress, dynamic_ncols=True)
  for step in range(first_step, config.env_steps + 1):
    # The resumed step's snapshot and checkpoint exist already.
    if step % config.snapshot_every == 0 and (step > first_step or first_step == 0):
      line = _snapshot(workdir, env_id, agent_state, step, meta_base, config, recent_returns,
                       metrics, time.perf_counter() - started)
      log.write(json.dumps(line) + "\n")
      log.flush()
      save_checkpoint(checkpointer, agent_state, buffer, key, step,
                      time.perf_counter() - started, recent_returns)
      bar.set_postfix(eval_return=f"{line['eval_return_mean']:.0f}")
      if config.stop_return and line["eval_return_mean"] >= config.stop_return:
        break
    if step == config.env_steps:
      break
    if step < config.start_steps:
      action = random_actions.uniform(-1.0, 1.0, spec.action_dim).astype(np.float32)
    else:
      action, key = _explore(agent_state, jnp.asarray(obs, jnp.float32), key)
      action = np.asarray(action)
    following, reward, terminated, truncated, info = env.step(action[None])
    for name, value in zip(chunk, (obs, action, reward[0], 1.0 - float(terminated[0]), info["final_obs"][0])):
      chunk[name].append(value)
    episode_return += float(reward[0])
    obs = following[0]  # the next episode's first observation when this one ended
    if terminated[0] or truncated[0]:
      recent_returns = (recent_returns + [episode_return])[-_RECENT_RETURNS:]
      episode_return = 0.0
    if len(chunk["reward"]) == config.train_every:
      batch = Transition(obs=jnp.asarray(np.stack(chunk["obs"]), jnp.float32),
                         action=jnp.asarray(np.stack(chunk["action"]), jnp.float32),
                         reward=jnp.asarray(chunk["reward"], jnp.float32),
                         mask=jnp.asarray(chunk["mask"], jnp.float32),
                         next_obs=jnp.asarray(np.stack(chunk["next_obs"]), jnp.float32),
                         task_id=None, domain_id=None)
      buffer = add(buffer, batch)
      chunk = {name: [] for name in chunk}
      if step + 1 >= config.start_steps:
        agent_state, key, metrics = update(agent_state, buffer, key)
    bar.update(1)
  bar.close()
  log.close()
  env.close()
  return line


def make_checkpointer(workdir: pathlib.Path, env_id: str, config) -> checkpoints.Checkpointer:
  """The run's checkpointer. Its fingerprint covers every setting a resumed run must share;
  `env_steps` and `stop_return` only say how far to go, so a resume may change them."""
  if (workdir / LEGACY_CHECKPOINT).exists() and not (workdir / CHECKPOINTS).exists():
    raise ValueError(f"{workdir / LEGACY_CHECKPOINT} is a checkpoint of the single-file format used "
                     "before 2026-12-06; resume it with jaxinsert at commit 45c9af3 or earlier, or "
                     "start a new run in another workdir")
  settings = {name: value for name, value in config.to_dict().items()
              if name not in ("env_steps", "stop_return")}
  return checkpoints.Checkpointer(str(workdir / CHECKPOINTS),
                                  {"trainer": "d4rl.sac_training", "env_id": env_id, **settings})


def save_checkpoint(checkpointer: checkpoints.Checkpointer, agent_state, buffer: replay.ReplayBuffer,
                    key: jax.Array, step: int, elapsed: float, recent_returns) -> None:
  """Agent state, the whole replay ring, key, wall clock and the last episode returns at `step`."""
  returns = np.full(_RECENT_RETURNS, np.nan, np.float32)
  returns[:len(recent_returns)] = recent_returns
  checkpointer.save(step, {"agent": agent_state, "buffer": buffer, "key": key,
                           "elapsed_seconds": np.asarray(elapsed, np.float32), "recent_returns": returns})


def restore_checkpoint(checkpointer: checkpoints.Checkpointer, agent_template,
                       buffer_template: replay.ReplayBuffer, key: jax.Array):
  """(agent_state, buffer, key, step, elapsed_seconds, recent_returns) of the newest checkpoint,
  or the templates at step 0 when there is none."""
  template = {"agent": agent_template, "buffer": buffer_template, "key": key,
              "elapsed_seconds": np.zeros((), np.float32), "recent_returns": np.zeros(_RECENT_RETURNS, np.float32)}
  restored = checkpointer.restore_latest(template)
  if restored is None:
    return agent_template, buffer_template, key, 0, 0.0, []
  step, state = restored
  returns = np.asarray(state["recent_returns"])
  return (state["agent"], state["buffer"], state["key"], step, float(state["elapsed_seconds"]),
          [float(value) for value in returns[np.isfinite(returns)]])


def _snapshot(workdir: pathlib.Path, env_id: str, agent_state, step: int, meta_base: Dict[str, Any],
              config, recent_returns, metrics, elapsed: float) -> Dict[str, Any]:
  path = workdir / "snapshots" / f"step_{step:08d}.npz"
  meta = dict(meta_base, env_steps=step)
  policy_io.save_policy(path, agent_state.actor.params, meta)
  # Score the stored (float16-rounded) policy: it is the one datasets are generated with.
  returns = evaluate_stored(env_id, policy_io.load_policy(path), config.eval_episodes,
                            seed=10_000 + step)
  meta.update(eval_return_mean=float(returns.mean()), eval_return_std=float(returns.std()),
              eval_episodes=int(returns.size), eval_policy="stochastic")
  policy_io.save_policy(path, agent_state.actor.params, meta)
  line = {"env_steps": step, "eval_return_mean": meta["eval_return_mean"],
          "eval_return_std": meta["eval_return_std"],
          "train_return_last10": float(np.mean(recent_returns)) if recent_returns else None,
          "env_steps_per_second": step / max(elapsed, 1e-9), "wall_clock_seconds": elapsed}
  line.update({name: float(value) for name, value in jax.device_get(metrics).items()})
  return line
