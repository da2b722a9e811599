"""LOTJ's vision data: the scripted collector over the `lotj` suite, RLDS writing, and the splits.

The collector is LOTJ-1 (seed 001 section IV-A; digest B10): it uses the calibrated (true) plug
pose, moves toward the socket centreline until within 1 mm, then down, and takes a uniform
random action with probability 0.2; at most 20 steps, ending early on success. Each stored step
carries the camera image (uint8), the calibrated relative pose (`tcp_pose_in_socket`, the
localisation baseline's target), the wrench, the sparse success reward and the domain id. The
simulated grasp cannot dislodge, so no episode is discarded (the real data lost those by hand).

Splits hold out connectors, never single domains: `task_id` is the connector index shared by
both robot variants, so dropping a connector's task_id removes it on every robot (LOTJ-5), and
`check_no_leak` refuses a training set that still holds any of it.
"""

from __future__ import annotations

import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402

from jaxinsert.envs import controllers, episodes as episodes_lib, factory, suites  # noqa: E402
from jaxinsert.envs import tasks as tasks_lib  # noqa: E402

Episode = Dict
STARTS = {"scenario1": tasks_lib.lotj_scenario_1, "scenario2": tasks_lib.lotj_scenario_2}
SPEC_VARIANTS = {32: "insertion-vision:rgb32", 48: "insertion-vision:rgb48", 64: "insertion-vision"}


def spec_name(image_size: int) -> str:
  if image_size not in SPEC_VARIANTS:
    raise ValueError(f"image_size must be one of {sorted(SPEC_VARIANTS)} (the insertion-vision "
                     f"spec's RGB variants), got {image_size}")
  return SPEC_VARIANTS[image_size]


def lotj_tasks(connectors: Sequence[str] = (), start: str = "scenario1",
               camera_fovy_deg: Optional[float] = None) -> List[tasks_lib.InsertionTask]:
  """Every robot variant of `connectors` (all 25 when empty) with the named start, seen by
  cameras with `camera_fovy_deg` (None: the scene's)."""
  if start not in STARTS:
    raise ValueError(f"unknown start {start!r}; known: {sorted(STARTS)}")
  suite = suites.get_suite("lotj")
  known = {t.connector.name for t in suite.tasks}
  unknown = sorted(set(connectors) - known)
  if unknown:
    raise KeyError(f"no lotj connector(s) {unknown}; known: {sorted(known)}")
  chosen = [t for t in suite.tasks if not connectors or t.connector.name in connectors]
  if camera_fovy_deg is not None and not 0.0 < camera_fovy_deg < 180.0:
    raise ValueError(f"camera_fovy_deg must be in (0, 180) degrees, got {camera_fovy_deg}")
  chosen = [t.replace(camera_fovy_deg=camera_fovy_deg) for t in chosen]
  return suites.with_start(chosen, STARTS[start]())


def collect(task_list: Sequence[tasks_lib.InsertionTask], episodes_per_domain: int, *,
            image_size: int = 32, seed: int = 0, random_probability: float = 0.2,
            envs_per_domain: int = 2, chunk_steps: int = 60, max_chunks: int = 50
            ) -> List[Episode]:
  """`episodes_per_domain` finished collector episodes of every task, images included.

  Episodes cut off at the end of a chunk are dropped (not truncated by the collector), so every
  stored episode ended by success or by the 20-step limit.
  """
  if episodes_per_domain < 1:
    raise ValueError(f"episodes_per_domain must be >= 1, got {episodes_per_domain}")
  env = factory.make(list(task_list), backend="c", num_envs=len(task_list) * envs_per_domain,
                     image_size=image_size)
  policy = controllers.batched(controllers.centerline_then_down(
      env.config, random_probability=random_probability))
  by_domain: Dict[int, List[Episode]] = {t.domain_id: [] for t in task_list}
  try:
    for chunk in range(max_chunks):
      if all(len(v) >= episodes_per_domain for v in by_domain.values()):
        break
      rollouts = episodes_lib.run_policy(env, policy, chunk_steps, seed * 1000 + chunk,
                                         record_images=True)
      for episode in episodes_lib.rollouts_to_episodes(rollouts):
        bucket = by_domain[episode["domain_id"]]
        if len(bucket) < episodes_per_domain:
          bucket.append(episode)
  finally:
    env.close()
  short = {d: len(v) for d, v in by_domain.items() if len(v) < episodes_per_domain}
  if short:
    raise RuntimeError(f"collector finished too few episodes for domains {short} "
                       f"after {max_chunks} chunks of {chunk_steps} steps")
  return [e for domain in sorted(by_domain) for e in by_domain[domain]]


def domain_statistics(episodes: Sequence[Episode]) -> Dict[int, Dict[str, float]]:
  """Per domain: episodes, success rate, steps, and the fraction of positive (success) images."""
  stats: Dict[int, Dict[str, float]] = {}
  for episode in episodes:
    row = stats.setdefault(episode["domain_id"], dict(episodes=0, successes=0, images=0))
    row["episodes"] += 1
    row["successes"] += int(episode["steps"]["is_terminal"][-1])
    row["images"] += len(episode["steps"]["reward"])
  for row in stats.values():
    row["success_rate"] = row["successes"] / row["episodes"]
    row["positive_fraction"] = row["successes"] / row["images"]
  return stats


def write(output_dir, episodes: Sequence[Episode], image_size: int, provenance: Mapping,
          overwrite: bool = False):
  from jaxinsert.data import rlds  # TFDS is imported only when writing
  return rlds.write_dataset(output_dir, episodes, spec_name(image_size),
                            provenance=dict(provenance), overwrite=overwrite, progress=False)


def read(dataset_dir) -> List[Episode]:
  from jaxinsert.data import rlds
  return list(rlds.read_episodes(dataset_dir))


# -------------------------------------------------------------------------------- splits
def connector_task_ids(connectors: Sequence[str]) -> Tuple[int, ...]:
  """The task ids (connector indices, shared by both robot variants) of `connectors`."""
  suite = suites.get_suite("lotj")
  ids = {t.connector.name: t.task_id for t in suite.tasks}
  unknown = sorted(set(connectors) - set(ids))
  if unknown:
    raise KeyError(f"no lotj connector(s) {unknown}; known: {sorted(ids)}")
  return tuple(sorted(ids[c] for c in connectors))


def connector_domain_ids(connectors: Sequence[str]) -> Tuple[int, ...]:
  """Every domain id (connector x robot) of `connectors`."""
  suite = suites.get_suite("lotj")
  return tuple(sorted(t.domain_id for t in suite.tasks if t.connector.name in set(connectors)))


def check_no_leak(train: Sequence[Episode], held_out: Sequence[str]) -> None:
  """Raises ValueError naming the first training episode of a held-out connector (any robot)."""
  task_ids = set(connector_task_ids(held_out))
  domain_ids = set(connector_domain_ids(held_out))
  for index, episode in enumerate(train):
    if episode["task_id"] in task_ids or episode["domain_id"] in domain_ids:
      raise ValueError(f"training episode {index} (task_id {episode['task_id']}, domain_id "
                       f"{episode['domain_id']}) belongs to a held-out connector {sorted(held_out)}")


def hold_out(episodes: Sequence[Episode], held_out: Sequence[str]
             ) -> Tuple[List[Episode], List[Episode]]:
  """(train, test) episodes: test holds every robot variant of the `held_out` connectors."""
  if not held_out:
    raise ValueError("hold_out needs at least one held-out connector")
  task_ids = set(connector_task_ids(held_out))
  domain_ids = set(connector_domain_ids(held_out))
  test = [e for e in episodes if e["task_id"] in task_ids or e["domain_id"] in domain_ids]
  train = [e for e in episodes if not (e["task_id"] in task_ids or e["domain_id"] in domain_ids)]
  check_no_leak(train, held_out)
  return train, test


def leave_one_out(episodes: Sequence[Episode], connector: str
                  ) -> Tuple[List[Episode], List[Episode]]:
  """LOTJ's RL protocol: train on every other connector, test on both variants of one."""
  return hold_out(episodes, [connector])


# ------------------------------------------------------------------- reward-classifier view
def reward_images(episodes: Sequence[Episode]) -> Dict[str, np.ndarray]:
  """Every stored image with its success label (the reward of the transition into it) and ids.

  The label of step t is reward_{t-1} (R is evaluated on s'); the first image of an episode is
  a start state, labelled 0.
  """
  images, labels, domains, tasks = [], [], [], []
  for episode in episodes:
    steps = episode["steps"]
    reward = np.asarray(steps["reward"], np.float32)
    label = np.concatenate([[0.0], reward[:-1]]).astype(np.float32)
    images.append(np.asarray(steps["observation"]["image"], np.uint8))
    labels.append(label)
    domains.append(np.full(len(label), episode["domain_id"], np.int32))
    tasks.append(np.full(len(label), episode["task_id"], np.int32))
  return dict(image=np.concatenate(images), label=np.concatenate(labels),
              domain_id=np.concatenate(domains), task_id=np.concatenate(tasks))
