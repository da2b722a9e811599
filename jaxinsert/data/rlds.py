"""RLDS datasets on disk: write episodes as TFDS array_record files, read them back, no TensorFlow.

A dataset is one directory that `tfds.builder_from_directory` understands (dataset_info.json,
features.json, `<name>-train.array_record-0000i-of-0000n`), plus three files of ours:
`jaxinsert_spec.json` (the resolved spec every episode was validated against),
`provenance.json` (where the data came from) and `jaxinsert_index.json` (episode lengths and
ids, so readers can size arrays before parsing). Writes are atomic: everything goes to a hidden
temporary directory beside the target, renamed into place only once complete.

Integrity: the index carries a SHA-256 of its own content and of every shard's records, written
at conversion. Opening a dataset checks that dataset_info.json and features.json parse, that the
index agrees with itself, with dataset_info.json and with the shards (episode counts; each
episode's length as it is parsed; each shard's digest once it has been read whole).
`overwrite=True` replaces only a jaxinsert dataset (or an empty directory), never anything else,
and what a killed writer left beside the output is cleared by the next write (both in
jaxinsert.data.dataset_files).
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import json
import os
import pathlib
import shutil
import sys
import tempfile
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence

import numpy as np
import tensorflow_datasets as tfds
from array_record.python import array_record_module
from tqdm import tqdm

from jaxinsert.data.dataset_files import (INDEX_FILE, PROVENANCE_FILE, TFDS_FILES, check_episode_length,  # noqa: F401
                                         check_output, clean_stale_siblings, describe_dataset, index_digest,
                                         is_dataset, owner_tag, read_json, sibling_prefix, verify_index)
from jaxinsert.data.errors import DataError, Location
from jaxinsert.data.rlds_codec import EpisodeCodec, tfds_features
from jaxinsert.data.specs import SPEC_FILE_IN_DATASET, DatasetSpec, load_spec

SPLIT = "train"
FORMAT_VERSION = 1
# A new shard starts past this size, so one file never has to be rewritten whole.
SHARD_BYTES = 256 * 1024 * 1024
# Errors of the target file system (full, read-only, no permission), reported as one line.
_WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)


def _tfds_name(spec: DatasetSpec) -> str:
  return "".join(c if c.isalnum() else "_" for c in spec.name.lower()).strip("_") or "jaxinsert"


def write_dataset(output_dir: Any, episodes: Iterable[Mapping[str, Any]], spec: Any, *,
                  provenance: Optional[Mapping[str, Any]] = None, overwrite: bool = False,
                  progress: Optional[bool] = None) -> pathlib.Path:
  """Validates and writes `episodes` as an RLDS dataset at `output_dir`; returns its path.

  Nothing appears at `output_dir` unless every episode was valid and written. An existing
  dataset is replaced only with `overwrite=True` (and only if it is a jaxinsert dataset or an
  empty directory; the replaced dataset is named on stderr). `progress=None` shows a bar on a
  terminal.
  """
  spec = load_spec(spec)
  output = pathlib.Path(output_dir).absolute()
  check_output(output, overwrite)
  try:
    output.parent.mkdir(parents=True, exist_ok=True)
  except OSError as error:
    raise DataError(f"cannot create the output's parent directory: {error.strerror or error}",
                    file=str(output.parent)) from None
  try:
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f"{sibling_prefix(output, 'tmp')}{owner_tag()}-",
                                            dir=output.parent))
  except OSError as error:
    raise DataError(f"cannot write in the output's parent directory: {error.strerror or error} "
                    "(read-only?)", file=str(output.parent)) from None
  try:
    resolved, index = _write_shards(staging, episodes, spec, progress)
    _write_metadata(staging, resolved, index, provenance)
    _move_into_place(staging, output, overwrite)
  except OSError as error:
    shutil.rmtree(staging, ignore_errors=True)
    if error.errno not in _WRITE_ERRNOS:
      raise
    raise DataError(f"cannot write the dataset: {error.strerror or error}; nothing was changed at "
                    "the output", file=str(output)) from None
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  return output


def _write_shards(staging: pathlib.Path, episodes: Iterable[Mapping[str, Any]], spec: DatasetSpec,
                  progress: Optional[bool]):
  resolved: Optional[DatasetSpec] = None
  codec: Optional[EpisodeCodec] = None
  # final_step_empty: the last step holds only the final observation (zero action and reward), as
  # RLDS writers append it; False where the source had no next observation to append (D4RL files
  # without next_observations), so the last step still carries the row's own action.
  index: Dict[str, List[Any]] = {"num_steps": [], "task_id": [], "domain_id": [], "is_terminal": [],
                                 "final_step_empty": []}
  shard_lengths: List[int] = []
  shard_bytes: List[int] = []
  shard_digests: List[Any] = []
  writer = None
  total_steps = 0
  bar = tqdm(episodes, desc=f"writing {spec.name}", unit="episode", disable=(not progress) if progress is not None
             else None, file=sys.stderr)
  for number, episode in enumerate(bar):
    metadata = episode.get("metadata") or {}
    where = Location(file=metadata.get("source_file"), episode=number)
    if resolved is None:
      resolved = spec if spec.is_concrete else spec.resolve(episode, where)
      codec = EpisodeCodec(resolved)
    episode = resolved.validate_episode(episode, where)
    record = codec.serialize(episode, where)
    if writer is None or shard_bytes[-1] >= SHARD_BYTES:
      if writer is not None:
        writer.close()
      writer = array_record_module.ArrayRecordWriter(str(staging / f"shard-{len(shard_lengths):05d}.partial"),
                                                     "group_size:1")
      shard_lengths.append(0)
      shard_bytes.append(0)
      shard_digests.append(hashlib.sha256())
    writer.write(record)
    shard_digests[-1].update(record)
    shard_lengths[-1] += 1
    shard_bytes[-1] += len(record)
    steps = episode["steps"]
    index["num_steps"].append(int(len(steps["is_first"])))
    index["task_id"].append(episode["task_id"])
    index["domain_id"].append(episode["domain_id"])
    index["is_terminal"].append(bool(steps["is_terminal"][-1]))
    index["final_step_empty"].append(not (np.any(steps["action"][-1]) or np.any(steps["reward"][-1])))
    total_steps += index["num_steps"][-1]
    bar.set_postfix(steps=total_steps, refresh=False)
  if writer is not None:
    writer.close()
  if resolved is None:
    raise DataError("no episodes to write")
  name = _tfds_name(resolved)
  for shard, _ in enumerate(shard_lengths):
    final = f"{name}-{SPLIT}.array_record-{shard:05d}-of-{len(shard_lengths):05d}"
    os.rename(staging / f"shard-{shard:05d}.partial", staging / final)
  index["shard_lengths"] = shard_lengths
  index["shard_bytes"] = shard_bytes
  index["shard_sha256"] = [digest.hexdigest() for digest in shard_digests]
  return resolved, index


def _write_metadata(staging: pathlib.Path, spec: DatasetSpec, index: Dict[str, Any],
                    provenance: Optional[Mapping[str, Any]]) -> None:
  name = _tfds_name(spec)
  identity = tfds.core.dataset_info.DatasetIdentity(name=name, version=tfds.core.Version(spec.version),
                                                    data_dir=str(staging), module_name="")
  info = tfds.core.DatasetInfo(builder=identity, features=tfds_features(spec),
                               description=f"{spec.name} {spec.version}: {spec.description}")
  info.set_file_format(tfds.core.FileFormat.ARRAY_RECORD)
  template = tfds.core.ShardedFileTemplate(data_dir=staging, dataset_name=name, split=SPLIT,
                                           filetype_suffix="array_record")
  split = tfds.core.SplitInfo(name=SPLIT, shard_lengths=index["shard_lengths"],
                              num_bytes=int(sum(index["shard_bytes"])), filename_template=template)
  info.set_splits(tfds.core.SplitDict([split]))
  info.write_to_directory(staging)
  (staging / SPEC_FILE_IN_DATASET).write_text(json.dumps(spec.to_dict(), indent=2))
  num_steps = np.asarray(index["num_steps"])
  summary = {"format": "jaxinsert-rlds", "format_version": FORMAT_VERSION, "tfds_name": name,
             "num_episodes": int(num_steps.size), "num_steps": int(num_steps.sum()),
             "num_terminal_episodes": int(np.sum(index["is_terminal"]))}
  full_index = {**summary, **index}
  (staging / INDEX_FILE).write_text(json.dumps({**full_index, "index_sha256": index_digest(full_index)}))
  record = {"created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "spec": f"{spec.name} {spec.version}" + (f" ({spec.raw['variant']})" if "variant" in spec.raw else ""),
            **summary, **dict(provenance or {})}
  (staging / PROVENANCE_FILE).write_text(json.dumps(record, indent=2, default=str))


def _move_into_place(staging: pathlib.Path, output: pathlib.Path, overwrite: bool) -> None:
  if output.exists():
    if not overwrite:
      raise DataError("output appeared while writing; not overwriting it", file=str(output))
    check_output(output, overwrite)
    replaced = describe_dataset(output) if is_dataset(output) else "an empty directory"
    retired = pathlib.Path(tempfile.mkdtemp(prefix=f"{sibling_prefix(output, 'old')}{owner_tag()}-",
                                            dir=output.parent))
    os.rename(output, retired / "dataset")
    os.rename(staging, output)
    print(f"replaced {output}: was {replaced}", file=sys.stderr)
    shutil.rmtree(retired, ignore_errors=True)
  else:
    os.rename(staging, output)


# ------------------------------------------------------------------------------------ reading
def _check_dataset_dir(dataset_dir: Any) -> pathlib.Path:
  path = pathlib.Path(dataset_dir)
  for required in ("dataset_info.json", SPEC_FILE_IN_DATASET, INDEX_FILE):
    if not (path / required).exists():
      raise DataError(f"not a jaxinsert RLDS dataset: {required} is missing", file=str(path / required))
  for required in TFDS_FILES:
    read_json(path / required, "TFDS metadata")
  return path


def load_spec_of(dataset_dir: Any) -> DatasetSpec:
  """The resolved spec a dataset was written with."""
  return load_spec(_check_dataset_dir(dataset_dir) / SPEC_FILE_IN_DATASET)


def load_provenance(dataset_dir: Any) -> Dict[str, Any]:
  record = read_json(_check_dataset_dir(dataset_dir) / PROVENANCE_FILE, "provenance")
  if not isinstance(record, dict):
    raise DataError("provenance file is damaged: not a JSON object",
                    file=str(pathlib.Path(dataset_dir) / PROVENANCE_FILE))
  return record


def load_index(dataset_dir: Any) -> Dict[str, Any]:
  """Episode count, lengths, ids and terminal flags, without reading any record; checked
  against its own digest and counts and against dataset_info.json's shard lengths."""
  directory = _check_dataset_dir(dataset_dir)
  path = directory / INDEX_FILE
  try:
    index = json.loads(path.read_text())
  except json.JSONDecodeError as error:
    raise DataError(f"index is corrupt ({error})", file=str(path)) from None
  verify_index(index, directory, str(path))
  return index


def shard_paths(dataset_dir: Any) -> List[pathlib.Path]:
  path = _check_dataset_dir(dataset_dir)
  index = load_index(path)
  count = len(index["shard_lengths"])
  paths = [path / f"{index['tfds_name']}-{SPLIT}.array_record-{i:05d}-of-{count:05d}" for i in range(count)]
  for shard in paths:
    if not shard.exists():
      raise DataError("shard file is missing", file=str(shard))
  return paths


def iter_records(dataset_dir: Any, chunk: int = 64) -> Iterator[tuple]:
  """Yields (shard path, episode number, serialized record) in write order, `chunk` at a time."""
  index = load_index(dataset_dir)
  episode = 0
  digests = index.get("shard_sha256") or [None] * len(index["shard_lengths"])
  for shard, expected, expected_digest in zip(shard_paths(dataset_dir), index["shard_lengths"], digests):
    digest = hashlib.sha256()
    try:
      reader = array_record_module.ArrayRecordReader(str(shard))
      count = reader.num_records()
    except Exception as error:  # the C++ reader raises RuntimeError/ValueError on damaged files
      raise DataError(f"cannot open array_record shard ({error})", file=str(shard)) from None
    if count != expected:
      raise DataError(f"shard holds {count} episodes, the index says {expected} (truncated?)", file=str(shard))
    try:
      for start in range(0, count, chunk):
        try:
          records = reader.read(start, min(start + chunk, count))
        except Exception as error:
          raise DataError(f"cannot read records {start}..{min(start + chunk, count) - 1} ({error})",
                          file=str(shard), episode=episode) from None
        for record in records:
          digest.update(record)
          yield shard, episode, record
          episode += 1
    finally:
      reader.close()
    if expected_digest is not None and digest.hexdigest() != expected_digest:
      raise DataError("shard content differs from its digest written at conversion (damaged?)",
                      file=str(shard))


def read_episodes(dataset_dir: Any) -> Iterator[Dict[str, Any]]:
  """Yields the episodes of a dataset in write order as dicts of stacked numpy arrays."""
  codec = EpisodeCodec(load_spec_of(dataset_dir))
  lengths = load_index(dataset_dir)["num_steps"]
  for shard, episode, record in iter_records(dataset_dir):
    where = Location(file=str(shard), episode=episode)
    parsed = codec.parse(record, where)
    check_episode_length(parsed, lengths[episode], where)
    yield parsed


def data_source(dataset_dir: Any, split: str = SPLIT) -> Sequence[Any]:
  """TFDS's own random-access reader (`tfds.data_source` semantics): decodes lazily, per step."""
  _check_dataset_dir(dataset_dir)
  return tfds.builder_from_directory(str(dataset_dir)).as_data_source(split=split)
