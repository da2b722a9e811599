"""Data-parallel training over 4 (forced host) devices equals training on one device."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = textwrap.dedent("""
    import sys, jax, numpy as np
    sys.path.insert(0, {tests!r})
    from test_training_offline import small_config, random_dataset, SPEC
    from jaxinsert.training.offline import OfflineTrainer
    num_devices = int(sys.argv[2])
    assert len(jax.devices()) >= num_devices, jax.devices()
    config = small_config(max_steps=40)
    config.batch_size = 16
    trainer = OfflineTrainer(config, sys.argv[1], random_dataset(), SPEC,
                             num_devices=num_devices, progress=False)
    state = trainer.train()
    trainer.close()
    leaves = jax.tree_util.tree_leaves(state.agent)
    np.savez(sys.argv[1] + "/params.npz", *[np.asarray(x) for x in leaves])
""")


def run_in_subprocess(workdir, num_devices):
  env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4",
             JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
  script = SCRIPT.format(tests=os.path.join(ROOT, "tests"))
  result = subprocess.run([sys.executable, "-c", script, str(workdir), str(num_devices)],
                          env=env, capture_output=True, text=True, timeout=400)
  assert result.returncode == 0, result.stderr[-3000:]
  with np.load(os.path.join(workdir, "params.npz")) as data:
    return [data[f"arr_{i}"] for i in range(len(data.files))]


@pytest.mark.timeout(500)
def test_four_devices_match_one_device(tmp_path):
  one = run_in_subprocess(tmp_path / "one", 1)
  four = run_in_subprocess(tmp_path / "four", 4)
  assert len(one) == len(four)
  for index, (a, b) in enumerate(zip(one, four)):
    np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5,
                               err_msg=f"leaf {index} differs between 1 and 4 devices")
