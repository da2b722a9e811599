"""Converter for Minari datasets (HDF5 backend): <dataset>/data/main_data.hdf5 with one group per
episode, `episode_<i>` = {observations (T + 1), actions (T), rewards, terminations, truncations,
infos}, plus <dataset>/data/metadata.json. Image observations Minari stored as JPEG bytes are decoded.
"""

from __future__ import annotations

import io
import json
import pathlib
import re
from typing import Any, Dict, Iterator, Optional

import numpy as np

from jaxinsert.data.converters.common import (ConvertOptions, as_flags, finish_episode, open_hdf5, read_array,
                                              read_group, rlds_steps, single_feature)
from jaxinsert.data.errors import DataError, Location
from jaxinsert.data.specs import DatasetSpec

DEFAULT_SPEC = None  # Minari files describe their spaces; without --spec the spec is inferred
NEEDS_SPEC = False
MAIN_FILE = "main_data.hdf5"


def locate(path: Any) -> pathlib.Path:
  """The main_data.hdf5 of a Minari dataset directory (or the file itself)."""
  path = pathlib.Path(path)
  for candidate in (path, path / MAIN_FILE, path / "data" / MAIN_FILE):
    if candidate.is_file():
      return candidate
  raise DataError(f"no {MAIN_FILE} here or in data/ (is this a Minari HDF5 dataset?)", file=str(path))


def _decode_jpeg_rows(rows: Any, where: Location) -> np.ndarray:
  from PIL import Image

  try:
    return np.stack([np.asarray(Image.open(io.BytesIO(np.asarray(row, np.uint8).tobytes()))) for row in rows])
  except (OSError, ValueError) as error:
    raise DataError(f"image bytes do not decode: {error}", where) from None


def _observations(group: Any, spec: Optional[DatasetSpec], options: ConvertOptions, where: Location
                  ) -> Dict[str, np.ndarray]:
  import h5py

  item = group["observations"] if "observations" in group else None
  if item is None:
    raise DataError("missing key 'observations'", where, field="observations")
  if isinstance(item, h5py.Group):
    # Dict observation spaces: nested keys joined with "_" (TFDS feature names cannot hold "/").
    raw = {key.replace("/", "_"): value for key, value in read_group(item, where.file, episode=where.episode).items()}
  else:
    name = single_feature(spec, options) if spec is not None else "state"
    raw = {name: read_array(group, "observations", where.file, where.episode)}
  out = {}
  for name, value in raw.items():
    feature = spec.observation.get(name) if spec is not None else None
    encoded = value.dtype == object or (feature is not None and feature.is_image and value.ndim == 2)
    out[name] = _decode_jpeg_rows(value, where.replace(field=f"observations/{name}")) if encoded else value
  return out


def episodes(path: Any, spec: Optional[DatasetSpec], options: ConvertOptions,
             report: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
  main_file = locate(path)
  metadata_file = main_file.parent / "metadata.json"
  if metadata_file.exists():
    try:
      metadata = json.loads(metadata_file.read_text())
    except json.JSONDecodeError as error:
      raise DataError(f"metadata.json is not valid JSON: {error}", file=str(metadata_file)) from None
    report.update({key: metadata.get(key) for key in ("dataset_id", "total_episodes", "total_steps",
                                                       "minari_version", "env_spec") if key in metadata})
  file = str(main_file)
  with open_hdf5(main_file) as handle:
    names = [name for name in handle.keys() if re.fullmatch(r"episode_\d+", name)]
    if not names:
      raise DataError("no episode_<i> groups", file=file)
    ignored_infos = set()
    for number, name in enumerate(sorted(names, key=lambda n: int(n.split("_")[1]))):
      where = Location(file=file, episode=number)
      group = handle[name]
      observation = _observations(group, spec, options, where)
      action = read_array(group, "actions", file, number)
      rows = len(action)
      for key, value in observation.items():
        if len(value) != rows + 1:
          raise DataError(f"{len(value)} observations for {rows} actions (Minari stores T + 1)", where,
                          field=f"observations/{key}")
      reward = np.asarray(read_array(group, "rewards", file, number)).reshape(-1)
      terminations = as_flags(read_array(group, "terminations", file, number), where.replace(field="terminations"))
      truncations = as_flags(read_array(group, "truncations", file, number), where.replace(field="truncations"))
      for key, flags in (("rewards", reward), ("terminations", terminations), ("truncations", truncations)):
        if len(flags) != rows:
          raise DataError(f"{len(flags)} rows for {rows} actions", where, field=key)
      ended = np.flatnonzero(terminations[:-1] | truncations[:-1])
      if ended.size:
        raise DataError("episode continues after a termination/truncation", where, step=int(ended[0]),
                        field="terminations" if terminations[ended[0]] else "truncations")
      steps = rlds_steps({key: value[:rows] for key, value in observation.items()}, action, reward,
                         final_observation={key: value[rows] for key, value in observation.items()},
                         terminal=bool(rows and terminations[-1]))
      infos = read_group(group["infos"], file, episode=number) if "infos" in group else {}
      wanted = spec.infos if spec is not None else {}
      ignored_infos.update(set(infos) - set(wanted))
      chosen = {key: np.asarray(value) for key, value in infos.items() if key in wanted}
      for key, value in chosen.items():
        if len(value) != rows + 1:
          raise DataError(f"{len(value)} rows, expected {rows + 1}", where, field=f"infos/{key}")
      if chosen:
        steps["infos"] = chosen
      episode = {"steps": steps, "metadata": {"minari_episode": name, "seed": _attribute(group, "seed")}}
      yield finish_episode(spec, episode, where, options)
    report["ignored_infos"] = sorted(ignored_infos)


def _attribute(group: Any, name: str) -> Any:
  value = group.attrs.get(name)
  return value.item() if isinstance(value, np.generic) else value
