"""Online finetuning must learn from what it collects: a probe where only online data can help.

ActionRewardProbe pays 1 - (a - 0.5)^2 for one action from one constant observation. The
offline data holds only actions near -0.5 (std 0.05), so no offline learner can see that larger
actions pay more: IQL, which keeps to the data's support, stays near -0.5 however long it
trains. Online, the exploration noise tries larger actions, their rewards enter the replay ring,
and the policy climbs towards 0.5. The test compares finetuning with the same number of further
offline updates (the control), so it fails if the online phase stops collecting, stops storing
or stops sampling its own data, or if its rewards do not reach the critic.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxinsert.agents import get_agent
from jaxinsert.envs import probes
from jaxinsert.envs.rollout import agent_spec
from jaxinsert.training import config as run_config
from jaxinsert.training.offline import OfflineTrainer
from jaxinsert.training.online_scan import ScannedOnlineTrainer

PROBE = probes.ActionRewardProbe(target=0.5)
DATA_ACTION, DATA_STD = -0.5, 0.05


@dataclasses.dataclass(frozen=True)
class NarrowBehaviour:
  """Actions near DATA_ACTION only: the offline data never shows what larger actions pay."""

  def __call__(self, key, state, params=None):
    return DATA_ACTION + DATA_STD * jax.random.normal(key, (1,))


def probe_config():
  config = run_config.online_run_config("iql")
  config.agent.hidden_dims = (32, 32)
  config.agent.expectile, config.agent.beta = 0.9, 10.0
  config.online_loop = "scan"
  config.num_seeds = 3
  config.offline_steps = 500
  config.steps_per_call = 250
  config.log_interval = 250
  config.env.num_envs = 8
  config.online_steps = 250         # per environment: 2,000 one-step episodes and updates
  config.batch_size = 64
  config.replay_capacity = 4000
  config.eval_interval = 2000
  config.checkpoint_interval = 2000
  config.offline_checkpoint_interval = 0
  config.exploration_noise = 0.3
  config.explore_with_mean = True
  return config


def policy_actions(agent_states):
  """The deterministic action of every seed at the probe's one observation."""
  act = get_agent("iql").act
  obs = PROBE.states()
  return np.asarray(jax.vmap(lambda state: act(state, obs, jax.random.PRNGKey(0), True)[0, 0])(agent_states))


def offline_agents(config, workdir, dataset, steps):
  offline = config.copy_and_resolve_references()
  offline.max_steps, offline.eval_interval, offline.checkpoint_interval = steps, 0, 0
  trainer = OfflineTrainer(offline, str(workdir), dataset, agent_spec(PROBE.spec), progress=False)
  try:
    return trainer.train(trainer.initial_state()).agent
  finally:
    trainer.close()


@pytest.mark.timeout(300)
def test_online_finetuning_learns_what_the_offline_data_cannot_show(tmp_path):
  config = probe_config()
  dataset = probes.probe_dataset(PROBE, jax.random.PRNGKey(0), 1000, NarrowBehaviour())
  assert float(jnp.max(dataset.action)) < -0.2, "the offline data must not show larger actions"
  pretrained = offline_agents(config, tmp_path / "offline", dataset, config.offline_steps)
  online_updates = config.online_steps * config.env.num_envs * config.updates_per_env_step
  control = offline_agents(config, tmp_path / "control", dataset, config.offline_steps + online_updates)

  trainer = ScannedOnlineTrainer(config, str(tmp_path / "online"), dataset, agent_spec(PROBE.spec),
                                 PROBE, progress=False)
  try:
    finetuned = trainer.train(trainer.initial_state(pretrained, config.seed)).agent
  finally:
    trainer.close()

  before, more_offline, after = (policy_actions(agents) for agents in (pretrained, control, finetuned))
  print(f"actions per seed: offline {before}, offline control {more_offline}, finetuned {after}")
  assert np.all(before < -0.2) and np.all(more_offline < -0.2), "offline IQL left the data's support"
  assert np.all(after > more_offline + 0.3), "online finetuning gained no more than offline updates"
