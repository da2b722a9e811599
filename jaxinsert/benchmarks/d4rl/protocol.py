"""D4RL's locomotion data protocol, reproduced in gymnasium MuJoCo (Hopper/HalfCheetah/Walker2d-v5).

D4RL (Fu et al. 2020, section 5 and appendix) built each locomotion environment's datasets from
one online SAC run: "random" rolls out the randomly initialised policy, "medium" a policy
stopped at about a third of expert return, "expert" the fully trained policy, "medium-replay"
is the replay buffer up to the medium policy, and "medium-expert" is medium followed by expert.
Datasets are rolled out with the stochastic policy, 1M transitions, episodes truncated at 1000
steps (`timeouts`) or ended by the environment (`terminals`).

Here the policies come from `sac_training` and are committed under policies/<env id>/ with a
manifest.json (`select_policies`). The replay buffer itself is not committed: medium-replay is
regenerated from the committed snapshots taken every `snapshot_every` SAC env steps, segment k
rolled out by snapshot k (the first segment by uniform random actions, SAC's warm-up), so it
follows the same policy sequence as the buffer, frozen within each segment.

Everything is deterministic for a seed: environment i of a rollout is reset with
`seed * 1000 + i` on its first episode and then continues its own RNG; policy noise comes from
`fold_in(PRNGKey(seed), t)`. The HDF5 files are written without timestamps, so the same inputs
give the same bytes on the same machine and library versions.
"""

from __future__ import annotations

import functools
import json
import pathlib
from typing import Any, Dict, List, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from jaxinsert.benchmarks.d4rl import policy_io
from jaxinsert.benchmarks.d4rl.reference import normalized_score
from jaxinsert.networks.policies import tanh_gaussian_sample
from jaxinsert.training.logging import write_json_atomically

ENVIRONMENTS = {"hopper": "Hopper-v5", "halfcheetah": "HalfCheetah-v5", "walker2d": "Walker2d-v5"}
DATASET_KINDS = ("random", "medium", "medium-replay", "medium-expert", "expert")
MAX_EPISODE_STEPS = 1000  # D4RL's and gymnasium's time limit for these three environments
# Normalised return of D4RL's -v2 medium datasets (mean over the dataset's episodes), the target
# of our medium policy. These are the dataset statistics commonly quoted alongside D4RL v2
# (e.g. the "behaviour" rows of later offline-RL papers); D4RL's paper describes the medium
# policy only as reaching "about 1/3 the performance of the expert". Not re-measured here:
# the files cannot be downloaded on this machine.
MEDIUM_TARGET_SCORE = {"hopper": 44.3, "halfcheetah": 40.7, "walker2d": 62.1}
KEYS = ("observations", "actions", "rewards", "terminals", "timeouts", "next_observations",
        "infos/qpos", "infos/qvel", "infos/action_log_probs")


def gymnasium_id(name: str) -> str:
  """"hopper" or "Hopper-v5" -> "Hopper-v5"."""
  name = name.strip()
  if name.lower() in ENVIRONMENTS:
    return ENVIRONMENTS[name.lower()]
  if name in ENVIRONMENTS.values():
    return name
  raise ValueError(f"unknown environment {name!r}; known: {', '.join(ENVIRONMENTS)}")


def family(env_id: str) -> str:
  return {value: key for key, value in ENVIRONMENTS.items()}[env_id]


def dataset_name(env_id: str, kind: str) -> str:
  """D4RL's name for the dataset ("hopper-medium-v2"), used for scoring and published tables."""
  return f"{family(env_id)}-{kind}-v2"


def rollout(env_id: str, policy: Optional[policy_io.StoredPolicy], steps: int, seed: int,
            num_envs: int = 8, progress: bool = False) -> Dict[str, np.ndarray]:
  """`steps` transitions of `policy` (None = uniform random actions) in D4RL's flat layout.

  `num_envs` environments advance in lockstep so one batched policy call serves all of them;
  each fills an equal share of the rows, and the shares are concatenated in order. The last
  row of a share is cut by the budget and flagged as a timeout, so no episode runs on into the
  next share unmarked.
  """
  import gymnasium

  from jaxinsert.training.environments import rescale_action

  num_envs = max(1, min(num_envs, steps))
  envs = [gymnasium.make(env_id) for _ in range(num_envs)]
  quotas = [steps // num_envs + (1 if i < steps % num_envs else 0) for i in range(num_envs)]
  rows: List[Dict[str, list]] = [{key: [] for key in KEYS} for _ in envs]
  obs = np.stack([env.reset(seed=seed * 1000 + i)[0] for i, env in enumerate(envs)])
  episode_steps = np.zeros(num_envs, np.int64)
  sample = _sampler(policy)
  action_dim = int(np.prod(envs[0].action_space.shape))
  rng = np.random.default_rng(seed)
  key = jax.random.PRNGKey(seed)
  bar = tqdm(total=steps, desc=f"{env_id} rollout", unit="step", disable=not progress, dynamic_ncols=True)
  t = 0
  while any(len(r["rewards"]) < q for r, q in zip(rows, quotas)):
    if policy is None:
      actions = rng.uniform(-1.0, 1.0, (num_envs, action_dim)).astype(np.float32)
      log_probs = np.full(num_envs, -action_dim * np.log(2.0), np.float32)
    else:
      actions, log_probs = sample(jnp.asarray(obs, jnp.float32), jax.random.fold_in(key, t))
    t += 1
    for i, env in enumerate(envs):
      share = rows[i]
      if len(share["rewards"]) >= quotas[i]:
        continue
      data = env.unwrapped.data
      qpos, qvel = np.array(data.qpos, np.float32), np.array(data.qvel, np.float32)
      action = rescale_action(actions[i], env.action_space.low, env.action_space.high)
      next_obs, reward, terminated, truncated, _ = env.step(action)
      episode_steps[i] += 1
      last_row = len(share["rewards"]) + 1 == quotas[i]
      timeout = (bool(truncated) or episode_steps[i] >= MAX_EPISODE_STEPS or last_row) and not terminated
      for name, value in zip(KEYS, (obs[i].copy(), actions[i], reward, bool(terminated), timeout, next_obs,
                                    qpos, qvel, log_probs[i])):
        share[name].append(value)
      if terminated or timeout:
        next_obs, _ = env.reset()
        episode_steps[i] = 0
      obs[i] = next_obs
      bar.update(1)
  bar.close()
  for env in envs:
    env.close()
  dtypes = {"terminals": bool, "timeouts": bool}
  return {name: np.concatenate([np.asarray(r[name], dtypes.get(name, np.float32)) for r in rows])
          for name in KEYS}


def _sampler(policy: Optional[policy_io.StoredPolicy]):
  if policy is None:
    return None
  sample = _compiled_sampler(policy.module)
  return lambda obs, key: tuple(np.asarray(x) for x in sample(policy.params, obs, key))


@functools.lru_cache(maxsize=None)
def _compiled_sampler(module):
  """One jitted sampler per network shape (flax modules hash by their fields), so the many
  snapshots of medium-replay share one compilation."""

  @jax.jit
  def sample(params, obs, key):
    mean, log_std = module.apply({"params": params}, obs)
    return tanh_gaussian_sample(key, mean, log_std)

  return sample


def concatenate(parts: List[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
  return {name: np.concatenate([part[name] for part in parts]) for name in KEYS}


def write_hdf5(path: Any, data: Dict[str, np.ndarray], metadata: Dict[str, Any]) -> pathlib.Path:
  """D4RL's flat layout (plus metadata/*), no timestamps so equal data gives equal bytes."""
  import h5py

  path = pathlib.Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  with h5py.File(path, "w", track_order=False) as handle:
    for name in KEYS:
      handle.create_dataset(name, data=data[name], track_times=False)
    for name, value in sorted(metadata.items()):
      handle.create_dataset(f"metadata/{name}", data=np.bytes_(json.dumps(value)), track_times=False)
  return path


def episode_returns(data: Dict[str, np.ndarray]) -> np.ndarray:
  ends = np.flatnonzero(data["terminals"] | data["timeouts"])
  starts = np.concatenate([[0], ends[:-1] + 1])
  cumulative = np.concatenate([[0.0], np.cumsum(data["rewards"], dtype=np.float64)])
  return cumulative[ends + 1] - cumulative[starts]


# ----------------------------------------------------------------------------- committed policies


def manifest_path(env_id: str, policy_dir: Any = None) -> pathlib.Path:
  return pathlib.Path(policy_dir or policy_io.POLICY_DIR) / env_id.lower() / "manifest.json"


def load_manifest(env_id: str, policy_dir: Any = None) -> Dict[str, Any]:
  path = manifest_path(env_id, policy_dir)
  if not path.exists():
    raise FileNotFoundError(f"no committed policies for {env_id} ({path}); train them with "
                            "experiments/make_d4rl_protocol.py --mode=train_sac")
  return json.loads(path.read_text())


def _policy(env_id: str, name: str, policy_dir: Any = None) -> Optional[policy_io.StoredPolicy]:
  if name == "uniform":
    return None
  return policy_io.load_policy(manifest_path(env_id, policy_dir).parent / f"{name}.npz")


def dataset_sources(manifest: Dict[str, Any], kind: str) -> List[Dict[str, Any]]:
  """The manifest entries (committed policies) that dataset `kind` is generated from: a dataset
  stays valid while these are unchanged, whatever else the manifest gains."""
  if kind in ("random", "medium", "expert"):
    return [manifest[kind]]
  if kind == "medium-expert":
    return [manifest["medium"], manifest["expert"]]
  if kind == "medium-replay":
    return list(manifest["replay_segments"])
  raise ValueError(f"unknown dataset kind {kind!r}; known: {', '.join(DATASET_KINDS)}")


def expert_is_the_medium_policy(env_id: str, policy_dir: Any = None) -> bool:
  """True while `expert.npz` is a copy of `medium.npz` (hopper until a longer SAC run exists):
  its "expert" and "medium-expert" datasets would then be medium data under another name."""
  manifest = load_manifest(env_id, policy_dir)
  directory = manifest_path(env_id, policy_dir).parent
  medium, expert = (directory / f"{manifest[name]['file']}.npz" for name in ("medium", "expert"))
  return medium.read_bytes() == expert.read_bytes()


def generate(env_id: str, kind: str, steps: int, seed: int = 0, progress: bool = False,
             policy_dir: Any = None, num_envs: int = 8) -> Tuple[Dict[str, np.ndarray], Dict[str, Any]]:
  """The arrays of one dataset and its metadata, from the committed policies (or those of
  `policy_dir`, laid out the same way). Refuses "expert" and "medium-expert" while the expert
  policy is the medium one, instead of writing mislabelled data."""
  manifest = load_manifest(env_id, policy_dir)
  if kind in ("expert", "medium-expert") and expert_is_the_medium_policy(env_id, policy_dir):
    raise ValueError(f"{env_id}: the committed expert policy is the medium one "
                     f"({manifest['expert'].get('env_steps')} SAC steps, the same file), so a "
                     f"{kind!r} dataset would be mislabelled; train the expert run on "
                     "(experiments/make_d4rl_protocol.py --mode=train_sac, then --mode=select_expert)")
  # Each kind has its own seed offset, and medium-expert reuses medium's and expert's, so it is
  # exactly the concatenation of those two files (as in D4RL).
  offsets = {"random": 1, "medium": 2, "expert": 3, "medium-replay": 4}
  sources = dataset_sources(manifest, kind)
  if kind in ("random", "medium", "expert"):
    data = rollout(env_id, _policy(env_id, manifest[kind]["file"], policy_dir), steps, seed * 10 + offsets[kind],
                   num_envs=num_envs, progress=progress)
  elif kind == "medium-expert":
    data = concatenate([generate(env_id, part, steps, seed, progress, policy_dir, num_envs)[0]
                        for part in ("medium", "expert")])
  else:  # medium-replay
    segments = manifest["replay_segments"]
    # The replay buffer holds every SAC step up to the medium policy; a shorter budget keeps the
    # same policy sequence with proportionally shorter segments.
    total = min(steps, sum(segment["env_steps"] for segment in segments))
    shares = [total // len(segments) + (1 if i < total % len(segments) else 0) for i in range(len(segments))]
    data = concatenate([rollout(env_id, _policy(env_id, segment["file"], policy_dir), share,
                                seed * 10 + offsets[kind] + 100 * index, num_envs, progress)
                        for index, (segment, share) in enumerate(zip(segments, shares)) if share])
  returns = episode_returns(data)
  name = dataset_name(env_id, kind)
  metadata = {"dataset": name, "env_id": env_id, "kind": kind, "seed": seed, "steps": int(len(data["rewards"])),
              "policies": sources, "protocol": "jaxinsert.benchmarks.d4rl.protocol (D4RL, Fu et al. 2020)"}
  report = {"dataset": name, "rows": int(len(data["rewards"])), "episodes": int(returns.size),
            "return_mean": float(returns.mean()), "score_mean": float(normalized_score(name, returns.mean())),
            "terminals": int(data["terminals"].sum()), "timeouts": int(data["timeouts"].sum())}
  return data, metadata | {"summary": report}


def generate_dataset(env_id: str, kind: str, out: Any, steps: int, seed: int = 0, rlds: bool = True,
                     progress: bool = True, policy_dir: Any = None) -> Dict[str, Any]:
  """Writes out/<d4rl name>.hdf5 (and out/rlds/<d4rl name>/ via the data layer); returns a summary."""
  data, metadata = generate(env_id, kind, steps, seed, progress, policy_dir)
  name = metadata["dataset"]
  path = write_hdf5(pathlib.Path(out) / f"{name}.hdf5", data, metadata)
  report = dict(metadata["summary"], hdf5=str(path))
  if rlds:
    from jaxinsert.data import converters

    report["rlds"] = str(converters.convert("d4rl_hdf5", path, pathlib.Path(out) / "rlds" / name,
                                            spec=f"d4rl-locomotion:{family(env_id)}", overwrite=True,
                                            progress=False))
  return report


def _snapshot_log(workdir: pathlib.Path) -> List[Dict[str, Any]]:
  """The SAC run's log lines that still have their snapshot file, step 0 (random) first."""
  log_path = workdir / "log.jsonl"
  if not log_path.exists():
    raise FileNotFoundError(f"{log_path} does not exist: not a SAC run directory (train_sac writes it)")
  log = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
  log = [line for line in log if (workdir / "snapshots" / f"step_{line['env_steps']:08d}.npz").exists()]
  if len(log) < 2:
    raise ValueError(f"{workdir} holds fewer than two SAC snapshots")
  return log


def select_policies(env_id: str, workdir: Any, eval_episodes: int = 10, policy_dir: Any = None,
                    replay_every: int = 10_000) -> Dict[str, Any]:
  """Picks random / medium / expert and the medium-replay snapshots from a SAC run's log and
  copies them into policies/<env id>/ with a manifest.

  medium: the snapshot whose stochastic return is closest to D4RL's medium dataset return
  (MEDIUM_TARGET_SCORE); expert: the best snapshot of the run (D4RL's was the end of a 1M-step
  run: the manifest records the steps this one got); random: the untrained actor (step 0).
  medium-replay: uniform actions for the run's `start_steps`, then one segment per snapshot
  every `replay_every` env steps up to the medium policy (fewer files than every snapshot).
  """
  import shutil

  from jaxinsert.benchmarks.d4rl.reference import raw_return
  from jaxinsert.benchmarks.d4rl.sac_training import evaluate_stored

  workdir = pathlib.Path(workdir)
  log = _snapshot_log(workdir)
  name = family(env_id)
  target = float(raw_return(name, MEDIUM_TARGET_SCORE[name]))
  expert = max(log[1:], key=lambda line: line["eval_return_mean"])
  medium_rule = "closest to D4RL's medium dataset return"
  if expert["eval_return_mean"] < target:
    # A run too short to pass D4RL's medium return falls back on the paper's own definition,
    # about a third of the expert's return, so medium and expert stay distinct policies.
    target = expert["eval_return_mean"] / 3.0
    medium_rule = "closest to 1/3 of the expert's return (run never reached D4RL's medium return)"
  medium = min((line for line in log[1:] if line is not expert),
               key=lambda line: abs(line["eval_return_mean"] - target))
  interval = log[1]["env_steps"] - log[0]["env_steps"]
  run_config = workdir / "config.json"
  # Runs older than config.json used start_steps = snapshot_every = 10k.
  start_steps = json.loads(run_config.read_text())["start_steps"] if run_config.exists() else interval
  replay_every = max(replay_every, interval)
  destination = manifest_path(env_id, policy_dir).parent
  destination.mkdir(parents=True, exist_ok=True)
  for stale in destination.glob("replay_step_*.npz"):  # segments of an earlier selection
    stale.unlink()

  def commit(line: Dict[str, Any], file: str) -> Dict[str, Any]:
    source = workdir / "snapshots" / f"step_{line['env_steps']:08d}.npz"
    shutil.copyfile(source, destination / f"{file}.npz")
    return {"file": file, "env_steps": line["env_steps"], "log_return_mean": line["eval_return_mean"]}

  manifest: Dict[str, Any] = {"env_id": env_id, "sac_run": str(workdir), "snapshot_every": interval,
                              "sac_start_steps": start_steps, "replay_every": replay_every,
                              "medium_target_score": MEDIUM_TARGET_SCORE[name],
                              "medium_target_return": float(raw_return(name, MEDIUM_TARGET_SCORE[name])),
                              "medium_rule": medium_rule, "medium_return_used": target,
                              "sac_env_steps_trained": log[-1]["env_steps"],
                              "expert_rule": "best snapshot of the run" + (
                                  "" if log[-1]["env_steps"] >= 1_000_000 else
                                  " so far (provisional: D4RL's expert ends a 1M-step run; train on and select again)")}
  manifest["random"] = commit(log[0], "random")
  manifest["medium"] = commit(medium, "medium")
  manifest["expert"] = commit(expert, "expert")
  # SAC acts uniformly at random for its first start_steps, then by the policy being trained.
  segments = [{"file": "uniform", "env_steps": start_steps, "sac_steps": [0, start_steps]}]
  for line in log[1:]:
    begin = line["env_steps"]
    if begin >= medium["env_steps"]:
      break
    if begin < start_steps or (begin - start_steps) % replay_every:
      continue
    end = min(begin + replay_every, medium["env_steps"])
    entry = commit(line, f"replay_step_{begin:08d}")
    segments.append(dict(entry, env_steps=end - begin, sac_steps=[begin, end]))
  manifest["replay_segments"] = segments
  for kind in ("random", "medium", "expert"):
    policy = policy_io.load_policy(destination / f"{manifest[kind]['file']}.npz")
    returns = evaluate_stored(env_id, policy, eval_episodes, seed=20_000)
    manifest[kind].update(return_mean=float(returns.mean()), return_std=float(returns.std()),
                          episodes=eval_episodes, score_mean=float(normalized_score(name, returns.mean())))
  write_json_atomically(str(manifest_path(env_id, policy_dir)), manifest)  # never torn
  return manifest


def rescore_committed(env_id: str, episodes: int = 30, seed: int = 30_000,
                      policy_dir: Any = None) -> Dict[str, Any]:
  """Re-measures every committed snapshot with `episodes` stochastic episodes and picks medium
  and expert again among them, without the SAC run directory.

  Selection reads the returns logged during training (a few episodes each; hopper's spread is
  hundreds), so the snapshot picked as medium can miss D4RL's return by 15 points once measured
  properly. Medium candidates are the snapshots up to the current medium, whose replay segments
  are all committed; medium-replay is cut to end at the new medium. Expert is the best of all.
  """
  import shutil

  from jaxinsert.benchmarks.d4rl.sac_training import evaluate_stored

  manifest = load_manifest(env_id, policy_dir)
  directory = manifest_path(env_id, policy_dir).parent
  name = family(env_id)
  candidates: Dict[int, str] = {}
  for entry in [*manifest["replay_segments"][1:], manifest["medium"], manifest["expert"]]:
    candidates.setdefault(int(entry["env_steps"] if entry["file"] in ("medium", "expert")
                              else entry["sac_steps"][0]), entry["file"])
  measured = {}
  for steps, file in sorted(candidates.items()):
    returns = evaluate_stored(env_id, _policy(env_id, file, policy_dir), episodes, seed=seed)
    measured[steps] = {"file": file, "env_steps": steps, "return_mean": float(returns.mean()),
                       "return_std": float(returns.std()), "episodes": episodes,
                       "score_mean": float(normalized_score(name, returns.mean()))}
  target = manifest["medium_return_used"]
  old_medium = int(manifest["medium"]["env_steps"])
  medium = min((m for s, m in measured.items() if s <= old_medium),
               key=lambda m: abs(m["return_mean"] - target))
  expert = max(measured.values(), key=lambda m: m["return_mean"])
  # Copy through a temporary name: the new medium may be today's expert file and vice versa.
  for kind, chosen in (("medium", medium), ("expert", expert)):
    shutil.copyfile(directory / f"{chosen['file']}.npz", directory / f"{kind}.npz.new")
  for kind, chosen in (("medium", medium), ("expert", expert)):
    (directory / f"{kind}.npz.new").replace(directory / f"{kind}.npz")
    manifest[kind] = dict(chosen, file=kind, log_return_mean=manifest[kind]["log_return_mean"]
                          if manifest[kind]["env_steps"] == chosen["env_steps"] else None)
  segments = [manifest["replay_segments"][0]]
  for segment in manifest["replay_segments"][1:]:
    begin, end = segment["sac_steps"]
    if begin < medium["env_steps"]:
      end = min(end, medium["env_steps"])
      segments.append(dict(segment, env_steps=end - begin, sac_steps=[begin, end]))
    else:
      (directory / f"{segment['file']}.npz").unlink()
  manifest["replay_segments"] = segments
  manifest["rescored"] = {"episodes": episodes, "seed": seed, "rule": rescore_committed.__doc__.split("\n")[0],
                          "snapshots": [measured[s] for s in sorted(measured)],
                          "medium_target_score": float(normalized_score(name, target))}
  write_json_atomically(str(manifest_path(env_id, policy_dir)), manifest)  # never torn
  return manifest


def select_expert(env_id: str, workdir: Any, eval_episodes: int = 10, policy_dir: Any = None
                  ) -> Dict[str, Any]:
  """Replaces only the committed expert with the best snapshot of the SAC run in `workdir`
  (typically a longer run than the one medium came from); random, medium and medium-replay,
  and every dataset made from them, stay as they are.

  The snapshot is measured over `eval_episodes` before it is committed, and refused unless it
  beats the committed medium: an expert that is not better than medium would make
  medium-expert meaningless.
  """
  import shutil

  from jaxinsert.benchmarks.d4rl.sac_training import evaluate_stored

  workdir = pathlib.Path(workdir)
  manifest = load_manifest(env_id, policy_dir)
  log = _snapshot_log(workdir)
  best = max(log[1:], key=lambda line: line["eval_return_mean"])
  source = workdir / "snapshots" / f"step_{best['env_steps']:08d}.npz"
  policy = policy_io.load_policy(source)
  if policy.meta.get("env_id") not in (None, env_id):
    raise ValueError(f"{source} is a {policy.meta['env_id']} policy, not {env_id}")
  returns = evaluate_stored(env_id, policy, eval_episodes, seed=20_000)
  medium = manifest["medium"]
  if returns.mean() <= medium["return_mean"]:
    raise ValueError(f"{source}: return {returns.mean():.0f} over {eval_episodes} episodes does not "
                     f"beat the committed medium's {medium['return_mean']:.0f}; not committed")
  directory = manifest_path(env_id, policy_dir).parent
  shutil.copyfile(source, directory / "expert.npz.new")
  (directory / "expert.npz.new").replace(directory / "expert.npz")
  trained = log[-1]["env_steps"]
  manifest["expert"] = {"file": "expert", "env_steps": best["env_steps"],
                        "log_return_mean": best["eval_return_mean"], "sac_run": str(workdir),
                        "sac_env_steps_trained": trained, "return_mean": float(returns.mean()),
                        "return_std": float(returns.std()), "episodes": eval_episodes,
                        "score_mean": float(normalized_score(family(env_id), returns.mean()))}
  manifest["expert_rule"] = "best snapshot of the expert run" + (
      "" if trained >= 1_000_000 else f" after {trained:,} of D4RL's 1M SAC steps (provisional: "
      "train on and select again)")
  write_json_atomically(str(manifest_path(env_id, policy_dir)), manifest)  # never torn
  return manifest
