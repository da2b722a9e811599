"""Physics of the insertion scene on the CPU (C library) backend: insert, jam, wrench, FK.

Measured contact resolution (the must-jam tests below): a sharp-edged plug whose commanded
position overlaps the socket wall top by 0.1 mm jams at 8 N; by 0.05 mm it slips in. So the
scene resolves clearances down to 0.1 mm of misalignment, for any clearance (0.5 and 0.1 mm
tested). Penetration into the wall top while jammed stays below 0.1 mm.
"""

import mujoco
import numpy as np
import jax.numpy as jnp
import pytest

from jaxinsert.envs import backend_c, connectors, insertion, scene, tasks

MM = 1e-3
STEPS = 25


def press_down(spec, offset_x_m, steps=STEPS, nenv=1, z_start_m=3 * MM):
  """Holds x at `offset_x_m` and moves down at 5 mm per step; returns final info and obs."""
  task = tasks.InsertionTask("probe", spec, action_mode="move", max_episode_steps=100,
                             start=tasks.StartDistribution("uniform", (offset_x_m, 0, z_start_m),
                                                           (0, 0, 0)))
  env = backend_c.CpuInsertionEnv(task, nenv, terminate_on_success=False)
  env.reset(0)
  lowest_z = np.inf
  for _ in range(steps):
    obs, _, _, _, info = env.step(np.tile([0.0, 0.0, -0.5], (nenv, 1)))
    lowest_z = min(lowest_z, float(info["tip_in_socket"][0, 2]))
  return info, obs, lowest_z


@pytest.mark.timeout(120)
@pytest.mark.parametrize("clearance_mm", [0.5, 0.1])
def test_aligned_plug_inserts_to_full_depth(clearance_mm):
  spec = connectors.ConnectorSpec("probe", clearance_m=clearance_mm * MM)
  for offset in (0.0, clearance_mm * MM):   # centred, and touching the wall
    info, _, _ = press_down(spec, offset)
    tip = info["tip_in_socket"][0]
    assert info["success"][0], f"aligned plug (x={offset / MM} mm) did not insert: tip {tip / MM} mm"
    assert abs(tip[2] + spec.depth_m) < 0.1 * MM, f"not at full depth: z={tip[2] / MM} mm"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("clearance_mm", [0.5, 0.1])
@pytest.mark.parametrize("overlap_mm", [0.1, 0.5])
def test_misaligned_plug_jams_without_passing_through(clearance_mm, overlap_mm):
  spec = connectors.ConnectorSpec("probe", clearance_m=clearance_mm * MM)
  info, _, lowest_z = press_down(spec, (clearance_mm + overlap_mm) * MM)
  tip = info["tip_in_socket"][0]
  assert not info["success"][0], (f"plug overlapping the wall by {overlap_mm} mm inserted: "
                                   f"tip {tip / MM} mm")
  # Penetration tolerance into the wall top: 0.1 mm at 8 N.
  assert lowest_z > -0.1 * MM, f"plug sank {-lowest_z / MM:.3f} mm into the socket face"


@pytest.mark.timeout(60)
def test_wrench_reports_contact_force_pressing_on_socket_face():
  spec = connectors.ConnectorSpec("probe", clearance_m=0.3 * MM)
  info, obs, _ = press_down(spec, 4 * MM, steps=10)   # lands on the face, 4 mm off centre
  wrench = insertion.split_observation(obs[0])["wrench"]
  config = tasks.InsertionTask("probe", spec, action_mode="move").config()
  # Reference clipping bounds the push at stiffness x max error (1000 N/m x 8 mm = 8 N).
  expected_n = config.scene.stiffness_n_per_m * config.max_reference_error_m
  assert wrench[2] == pytest.approx(expected_n, rel=0.2), f"f_z {wrench[2]:.2f} N, expected ~{expected_n} N up"
  assert np.all(np.abs(wrench[:2]) < 0.2 * wrench[2]), f"lateral force too large: {wrench[:3]}"


def test_wrench_is_zero_at_reset():
  task = tasks.InsertionTask("probe", connectors.ConnectorSpec("probe"))
  env = backend_c.CpuInsertionEnv(task, 2)
  obs = env.reset(3)
  np.testing.assert_allclose(insertion.split_observation(obs)["wrench"], 0.0, atol=1e-6)


def test_tip_kinematics_match_mujoco():
  spec = connectors.ConnectorSpec("probe")
  model = scene.build_model(spec)
  data = mujoco.MjData(model)
  data.qpos[:] = [0.01, -0.02, 0.03, 0.1, -0.2, 0.3]
  mujoco.mj_forward(model, data)
  tip = insertion.tip_position_m(jnp.asarray(data.qpos), spec.plug_height_m)
  np.testing.assert_allclose(tip, data.site_xpos[model.site("tcp").id], atol=1e-6)


@pytest.mark.parametrize("section", connectors.CROSS_SECTIONS)
def test_every_cross_section_compiles_and_seats(section):
  spec = connectors.ConnectorSpec(section, cross_section=section, width_m=12 * MM,
                                  length_m=6 * MM, clearance_m=0.3 * MM, chamfer_m=0.3 * MM)
  info, _, _ = press_down(spec, 0.0, steps=12)
  assert info["success"][0], f"{section}: centred plug did not seat, tip {info['tip_in_socket'][0] / MM} mm"


def test_same_seed_same_episode_and_batch_matches_single():
  task = tasks.InsertionTask("probe", connectors.ConnectorSpec("probe"))
  def run(num_envs, seed):
    env = backend_c.CpuInsertionEnv(task, num_envs)
    env.reset(seed)
    actions = np.random.default_rng(0).uniform(-1, 1, (8, 6))
    return np.stack([env.step(np.tile(a, (num_envs, 1)))[0] for a in actions])
  np.testing.assert_array_equal(run(3, 5), run(3, 5))
  # The physics of one environment does not depend on the batch it runs in.
  env_single = backend_c.CpuInsertionEnv(task, 1)
  env_batch = backend_c.CpuInsertionEnv(task, 4)
  qpos = np.tile([0.0, 0.0, 0.002, 0, 0, 0], (4, 1))
  controls = np.tile(np.linspace(0.002, -0.01, 50)[None, :, None] * [0, 0, 1, 0, 0, 0], (4, 1, 1))
  single = env_single.simulate(qpos[:1], np.zeros((1, 6)), controls[:1])
  batch = env_batch.simulate(qpos, np.zeros((4, 6)), controls)
  for a, b in zip(single, batch):
    np.testing.assert_array_equal(np.broadcast_to(a, b.shape), b)
