"""Transition views: step pairing, masks, observation layout, ids, several datasets at once."""

import numpy as np
import pytest

from jaxinsert.data import rlds
from jaxinsert.data.errors import DataError
from jaxinsert.data.specs import DatasetSpec
from jaxinsert.data.transitions import load_transitions
from test_data_rlds import VISION_SPEC, vision_episode


def test_pairs_steps_and_masks_only_true_terminals():
  episodes = [vision_episode(4, 1, terminal=False), vision_episode(3, 2, terminal=True)]
  transitions, spec, info = load_transitions(episodes, spec=DatasetSpec.from_dict(VISION_SPEC),
                                             obs_keys=["tcp_pose_in_socket", "wrench_at_tcp"])
  assert transitions.size == 3 + 2 and spec.obs_shape == (13,) and spec.action_dim == 6
  np.testing.assert_array_equal(np.asarray(transitions.mask), [1, 1, 1, 1, 0])
  first = episodes[0]["steps"]["observation"]
  np.testing.assert_allclose(np.asarray(transitions.obs)[1, :7], first["tcp_pose_in_socket"][1], rtol=1e-6)
  np.testing.assert_allclose(np.asarray(transitions.next_obs)[1, 7:], first["wrench_at_tcp"][2], rtol=1e-6)
  np.testing.assert_array_equal(np.asarray(transitions.task_id), [1, 1, 1, 2, 2])
  np.testing.assert_array_equal(np.asarray(transitions.domain_id), [3] * 5)
  assert info["obs_slices"] == {"tcp_pose_in_socket": (0, 7), "wrench_at_tcp": (7, 13)}
  np.testing.assert_array_equal(info["episode_index"], [0, 0, 0, 1, 1])
  assert info["num_truncated_episodes"] == 1


def test_image_observations_keep_their_shape_and_dtype(tmp_path):
  spec = DatasetSpec.from_dict(VISION_SPEC)
  out = rlds.write_dataset(tmp_path / "ds", [vision_episode(4, 1), vision_episode(5, 2)], spec)
  transitions, agent_spec, _ = load_transitions(out, obs_keys=["wrist_image"])
  assert transitions.obs.shape == (7, 8, 8, 3) and transitions.obs.dtype == np.uint8
  assert agent_spec.obs_shape == (8, 8, 3)
  with pytest.raises(DataError, match="cannot be concatenated"):
    load_transitions(out)  # image + vectors in one array is refused, with the way out in the message
  with pytest.raises(DataError, match="not in spec"):
    load_transitions(out, obs_keys=["camera"])


def test_several_datasets_concatenate_with_their_ids(tmp_path):
  spec = DatasetSpec.from_dict(VISION_SPEC)
  first = rlds.write_dataset(tmp_path / "a", [vision_episode(4, 1)], spec)
  second = rlds.write_dataset(tmp_path / "b", [vision_episode(3, 7), vision_episode(2, 8)], spec)
  transitions, _, info = load_transitions([first, second], obs_keys=["wrench_at_tcp", "contact"])
  assert transitions.size == 3 + 2 + 1 and transitions.obs.shape == (6, 7)
  np.testing.assert_array_equal(np.asarray(transitions.task_id), [1, 1, 1, 7, 7, 8])
  assert info["num_episodes"] == 3


def test_return_range_scaling_refuses_a_degenerate_range():
  episodes = [vision_episode(4, 1)]
  with pytest.raises(DataError, match="return range"):
    load_transitions(episodes, spec=DatasetSpec.from_dict(VISION_SPEC), obs_keys=["wrench_at_tcp"],
                     reward_preprocessing="locomotion_return_range")
  with pytest.raises(ValueError, match="reward_preprocessing"):
    load_transitions(episodes, reward_preprocessing="scale")
