"""experiments/oda_diagnose.py: the final plug pose it reports is where the episode ended."""

import numpy as np
import pytest

from experiments import oda_diagnose
from jaxinsert.envs import suites


class _StillPipeline:
  """Stands in for an ODA pipeline whose policy never moves the plug."""

  def oda_policy(self, state, tasks):
    return lambda obs: np.zeros((obs.shape[0], 6), np.float32)


@pytest.mark.timeout(60)
def test_a_policy_that_never_moves_ends_at_its_start_above_the_nominal_socket_and_fails():
  task = suites.with_oda_pose_error([suites.get_suite("oda").task("rect-10x10")], "slots")[0]
  success, final = oda_diagnose.rollout_final_poses(_StillPipeline(), None, task, 4, seed=0)
  assert final.shape == (4, 6) and not success.any()
  # U[-1, 1] mm start noise around the nominal socket (the slot is 3 mm away), above it.
  assert np.all(np.abs(final[:, :2]) <= 1.2e-3), final[:, :2]
  assert np.all(final[:, 2] > 0), "the plug ended below the socket surface without moving"
  slot = np.asarray(task.socket_offset_m)
  assert np.all(np.linalg.norm(final[:, :2] - slot, axis=1) > 1.5e-3)
