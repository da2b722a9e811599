"""`make`: one entry point for insertion environments on either physics backend.

    make("oda/rect-10x10")                      # one task, CPU backend on CPU
    make("lotj:train", num_envs=84)             # a whole split, tasks spread over environments
    make("ch9/usb-like", backend="mjx", num_envs=16)

`backend="auto"` picks the C library (`mujoco.rollout`) when JAX runs on CPU and MJX on GPU/TPU
(measured here: MJX is 10-40x slower than the C library on this 2-core CPU). Both return a
`VectorEnv`; `make_functional` returns the MJX `FunctionalEnv` itself for jit/vmap/scan.
"""

from __future__ import annotations

from typing import List, Union

import jax

from jaxinsert.envs import suites, tasks as tasks_lib


def resolve_tasks(name: Union[str, tasks_lib.InsertionTask, List[tasks_lib.InsertionTask]]
                  ) -> List[tasks_lib.InsertionTask]:
  """"suite/task", "suite:split", "suite" (all tasks) or a bare task name searched in every suite."""
  if isinstance(name, tasks_lib.InsertionTask):
    return [name]
  if isinstance(name, (list, tuple)):
    return list(name)
  if "/" in name:
    suite_name, task_name = name.split("/", 1)
    return [suites.get_suite(suite_name).task(task_name)]
  if ":" in name:
    suite_name, split = name.split(":", 1)
    return suites.get_suite(suite_name).split(split)
  if name in suites.SUITE_NAMES:
    return list(suites.get_suite(name).tasks)
  for suite_name in suites.SUITE_NAMES:
    for task in suites.get_suite(suite_name).tasks:
      if task.name == name:
        return [task]
  raise KeyError(f"no task or suite named {name!r} (try 'oda/rect-10x10' or 'lotj:train')")


def default_backend() -> str:
  return "c" if jax.default_backend() == "cpu" else "mjx"


def make(name, backend: str = "auto", num_envs: int = 1, **kwargs):
  """A `VectorEnv` of `num_envs` environments of the named task(s) (see the module doc)."""
  task_list = resolve_tasks(name)
  backend = default_backend() if backend == "auto" else backend
  if backend == "c":
    from jaxinsert.envs.backend_c import CpuInsertionEnv
    return CpuInsertionEnv(task_list, num_envs, **kwargs)
  if backend == "mjx":
    from jaxinsert.envs.base import FunctionalVectorEnv
    if len({t.connector for t in task_list}) != 1:
      raise ValueError("the MJX backend runs one connector per environment object; "
                       "make one per task (geometry is compiled into the model)")
    env = make_functional(task_list[0], **kwargs)
    return FunctionalVectorEnv(env, num_envs)
  raise ValueError(f"backend must be 'auto', 'c' or 'mjx', got {backend!r}")


def make_functional(name, **kwargs):
  """The MJX `FunctionalEnv` of one task (pure reset/step; vmap over keys and TaskParams)."""
  from jaxinsert.envs.backend_mjx import MjxInsertionEnv
  task_list = resolve_tasks(name)
  if len(task_list) != 1:
    raise ValueError(f"make_functional needs one task, {name!r} has {len(task_list)}")
  return MjxInsertionEnv(task_list[0], **kwargs)
