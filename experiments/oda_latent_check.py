"""Does a trained ODA policy use its latent? Zero-shot success of seed 0 on the test tasks with
each task's own demo latent, with z = 0 (the prior mean) and with the next task's latent.

  python experiments/oda_latent_check.py --config=experiments/configs/oda_default.py --workdir=runs/oda
"""

from absl import app

from jaxinsert.training import cli

_CONFIG, _WORKDIR = cli.define_config_and_workdir_flags()


def _run():
  import jax.numpy as jnp

  from jaxinsert.training import oda_pipeline

  pipeline = oda_pipeline.ODAPipeline(_CONFIG.value, _WORKDIR.value, progress=False)
  try:
    state = pipeline.agent_states("oda")[0]
    tasks = pipeline.test_tasks
    own = pipeline.task_latents(state, tasks)
    for label, latents in (("own demos' z", own), ("z = 0", jnp.zeros_like(own)),
                           ("next task's z", jnp.roll(own, 1, axis=0))):
      result = pipeline.evaluator(tasks, _CONFIG.value.eval.trials)(
          pipeline.oda_policy(state, tasks, latents))
      print(f"{label:14}", {name: s["success_k"] for name, s in result["per_task"].items()},
            flush=True)
  finally:
    pipeline.close()


def main(argv):
  del argv
  cli.run_main(_run)


if __name__ == "__main__":
  app.run(main)
