"""Does a trained ODA policy use its latent? Zero-shot success of seed 0 on the test tasks with
each task's own demo latent, with z = 0 (the prior mean) and with the next task's latent; then
what the actor is trained on: the spread of the task means of z against the posterior noise of
a 64-transition context (the sampled z of every update), and how far the actor's action moves
when z is swapped for another task's.

  python experiments/oda_latent_check.py --config=experiments/configs/oda_default.py --workdir=runs/oda
"""

from absl import app

from jaxinsert.training import cli

_CONFIG, _WORKDIR = cli.define_config_and_workdir_flags()


def _run():
  import jax.numpy as jnp

  from jaxinsert.training import oda_pipeline

  with oda_pipeline.ODAPipeline(_CONFIG.value, _WORKDIR.value, progress=False) as pipeline:
    state = pipeline.agent_states("oda")[0]
    tasks = pipeline.test_tasks
    own = pipeline.task_latents(state, tasks)
    for label, latents in (("own demos' z", own), ("z = 0", jnp.zeros_like(own)),
                           ("next task's z", jnp.roll(own, 1, axis=0))):
      result = pipeline.evaluator(tasks, _CONFIG.value.eval.trials)(
          pipeline.oda_policy(state, tasks, latents))
      print(f"{label:14}", {name: s["success_k"] for name, s in result["per_task"].items()},
            flush=True)
    _latent_statistics(pipeline, state)


def _latent_statistics(pipeline, state) -> None:
  import jax
  import jax.numpy as jnp
  import numpy as np

  from jaxinsert.agents import oda

  tasks = pipeline.train_tasks + pipeline.test_tasks
  size = state.config.context_size
  key = jax.random.PRNGKey(0)
  posterior = jax.jit(lambda c: oda.posterior(state, state.encoder.params, c, jnp.ones(size)))
  means, noise_std = [], []
  for index, task in enumerate(tasks):
    demos = pipeline.task_demos(task)
    rows = jax.random.randint(jax.random.fold_in(key, index), (size,), 0, demos.size)
    mu, variance = posterior(jax.tree_util.tree_map(lambda x: x[rows], demos))
    means.append(np.asarray(oda.task_latent(oda.adapt(state, demos))))
    noise_std.append(np.sqrt(np.asarray(variance)))
  means, noise_std = np.stack(means), np.stack(noise_std)
  between = means.std(0)
  print(f"z: between-task std of the means {between.mean():.3f} (per dim max {between.max():.3f}); "
        f"posterior std of a {size}-transition context {noise_std.mean():.3f}; "
        f"ratio {between.mean() / noise_std.mean():.3f}", flush=True)
  act = jax.jit(lambda obs, z: oda.act_with_latent(state, obs, z, key, True))
  for index, task in enumerate(tasks):
    obs = pipeline.task_demos(task).obs
    own = act(obs, jnp.asarray(means[index]))
    other = act(obs, jnp.asarray(means[(index + 1) % len(tasks)]))
    prior = act(obs, jnp.zeros_like(jnp.asarray(means[index])))
    size_own = float(jnp.mean(jnp.linalg.norm(own, axis=-1)))
    print(f"{task.name:18} |a(own z)| {size_own:.3f}  |a(own) - a(next task's z)| "
          f"{float(jnp.mean(jnp.linalg.norm(own - other, axis=-1))):.3f}  |a(own) - a(z=0)| "
          f"{float(jnp.mean(jnp.linalg.norm(own - prior, axis=-1))):.3f}", flush=True)


def main(argv):
  del argv
  cli.run_main(_run)


if __name__ == "__main__":
  app.run(main)
