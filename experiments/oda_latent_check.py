"""Does a trained ODA policy use its latent? Zero-shot success of seed 0 on the test tasks with
each task's own demo latent, with z = 0 (the prior mean) and with the next task's latent.

  python experiments/oda_latent_check.py --config=experiments/configs/oda_default.py --workdir=runs/oda
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402

from jaxinsert.training import cli  # noqa: E402

_CONFIG, _WORKDIR = cli.define_config_and_workdir_flags()


def _run():
  import jax
  import jax.numpy as jnp
  import numpy as np

  from jaxinsert.agents import oda
  from jaxinsert.training import oda_pipeline

  pipeline = oda_pipeline.ODAPipeline(_CONFIG.value, _WORKDIR.value, progress=False)
  try:
    state = pipeline.agent_states("oda")[0]
    tasks = pipeline.test_tasks
    own = jnp.stack([oda.task_latent(oda.adapt(state, pipeline.task_demos(t))) for t in tasks])
    act = jax.jit(lambda s, obs, z: oda.act_with_latent(s, obs, z, jax.random.PRNGKey(0), True))
    normalizer = pipeline.data()["normalizer"]
    for label, latents in (("own demos' z", own), ("z = 0", jnp.zeros_like(own)),
                           ("next task's z", jnp.roll(own, 1, axis=0))):
      policy = lambda obs, z=latents: np.asarray(
          act(state, jnp.asarray(normalizer(obs)), z[np.arange(obs.shape[0]) % len(tasks)]))
      result = pipeline.evaluator(tasks, _CONFIG.value.eval.trials)(policy)
      print(f"{label:14}", {name: s["success_k"] for name, s in result["per_task"].items()},
            flush=True)
  finally:
    pipeline.close()


def main(argv):
  del argv
  cli.run_main(_run)


if __name__ == "__main__":
  app.run(main)
