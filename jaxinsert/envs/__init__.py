"""Functional environments (insertion family, probe MDPs) and their wrappers.

Insertion entry points (imported lazily so that probe-MDP users do not load MuJoCo):
`make(name, backend="auto"|"c"|"mjx", num_envs=...)`, `make_functional(name)`,
`get_suite(name)` ("oda", "lotj", "ch9"). See jaxinsert/envs/insertion.py for the observation,
action and frame conventions.
"""

import os

# Headless machines render through EGL; MuJoCo reads this when it is first imported.
if not os.environ.get("DISPLAY"):
  os.environ.setdefault("MUJOCO_GL", "egl")


def make(*args, **kwargs):
  from jaxinsert.envs import factory
  return factory.make(*args, **kwargs)


def make_functional(*args, **kwargs):
  from jaxinsert.envs import factory
  return factory.make_functional(*args, **kwargs)


def get_suite(name):
  from jaxinsert.envs import suites
  return suites.get_suite(name)
