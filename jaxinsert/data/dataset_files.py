"""A dataset directory's files: what may be replaced, what a killed writer left, whether they agree.

`check_output` decides what `--overwrite` may replace (a jaxinsert dataset or an empty directory,
nothing else) and first clears what a killed writer left beside the output: hidden staging and
backup directories named `.<name>.tmp-<pid>@<host>-*` / `.<name>.old-<pid>@<host>-*`, removed once
their process is gone (an orphaned whole backup goes back into place). `verify_index` holds the
index to its digest and counts, and to dataset_info.json, before any record is read.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import socket
import sys
import time
from typing import Any, List, Mapping, Optional

from jaxinsert.data.errors import DataError, Location

PROVENANCE_FILE = "provenance.json"
INDEX_FILE = "jaxinsert_index.json"
TFDS_FILES = ("dataset_info.json", "features.json")
# A staging directory of a writer older than pid-tagged names is stale once untouched this long.
LEGACY_STALE_SECONDS = 600


def is_dataset(path: Any) -> bool:
  """True for a directory holding a jaxinsert RLDS dataset (its index says so)."""
  index = pathlib.Path(path) / INDEX_FILE
  try:
    return json.loads(index.read_text()).get("format") == "jaxinsert-rlds"
  except (OSError, ValueError, AttributeError):
    return False


def describe_dataset(path: Any) -> str:
  """One line: episodes, steps, spec and creation time of the dataset at `path`."""
  path = pathlib.Path(path)
  index = json.loads((path / INDEX_FILE).read_text())
  try:
    provenance = json.loads((path / PROVENANCE_FILE).read_text())
  except (OSError, ValueError):
    provenance = {}
  return (f"{index.get('num_episodes')} episodes, {index.get('num_steps')} steps, spec "
          f"{provenance.get('spec', '?')}, created {provenance.get('created_utc', '?')}, from "
          f"{provenance.get('input', '?')}")


def check_output(output: pathlib.Path, overwrite: bool) -> None:
  """Refuses an output that exists unless `overwrite` and it is a dataset of ours (or empty).
  First removes what a killed writer left beside it (`clean_stale_siblings`)."""
  clean_stale_siblings(output)
  if not output.exists() and not output.is_symlink():
    return
  if not overwrite:
    raise DataError("output already exists; pass overwrite=True (--overwrite) to replace it", file=str(output))
  if not output.is_dir() or output.is_symlink():
    raise DataError("output exists and is not a directory; --overwrite replaces only a jaxinsert "
                    "dataset, so nothing was deleted", file=str(output))
  if any(output.iterdir()) and not is_dataset(output):
    names = sorted(p.name for p in output.iterdir())
    raise DataError(f"output is not a jaxinsert dataset (it holds {names[:5]}"
                    f"{' ...' if len(names) > 5 else ''}); --overwrite replaces only a dataset, so "
                    "nothing was deleted", file=str(output))


def sibling_prefix(output: pathlib.Path, kind: str) -> str:
  """'.<name>.<kind>-': staging ('tmp') and backup ('old') directories beside `output`."""
  return f".{output.name}.{kind}-"


def owner_tag() -> str:
  """pid@host of this writer, put in the names of its staging and backup directories."""
  return f"{os.getpid()}@{socket.gethostname()}"


def _owner_alive(name: str, prefix: str) -> Optional[bool]:
  """Whether the writer that made sibling `name` still runs (None: a name without an owner)."""
  tag = name[len(prefix):]
  if "@" not in tag:
    return None
  pid, _, rest = tag.partition("@")
  if not pid.isdigit() or not rest.startswith(socket.gethostname() + "-"):
    return True  # another host's writer, or a name we do not know: leave it alone
  try:
    os.kill(int(pid), 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def clean_stale_siblings(output: pathlib.Path) -> List[str]:
  """Removes staging and backup directories a killed writer left beside `output`; moves an
  orphaned backup (a kill between the two renames of an overwrite) back into place."""
  if not output.parent.is_dir():
    return []
  notes = []
  for kind in ("old", "tmp"):  # backups first: one may have to go back into place
    prefix = sibling_prefix(output, kind)
    for sibling in sorted(output.parent.glob(prefix + "*")):
      alive = _owner_alive(sibling.name, prefix)
      if alive is None:
        try:
          alive = time.time() - sibling.stat().st_mtime < LEGACY_STALE_SECONDS
        except OSError:
          continue
      if alive or not sibling.is_dir():
        continue
      backup = sibling / "dataset"
      if kind == "old" and not output.exists() and is_dataset(backup):
        os.rename(backup, output)
        notes.append(f"restored {output} from the backup {sibling} of an interrupted overwrite")
      else:
        notes.append(f"removed {sibling} left by an interrupted write")
      shutil.rmtree(sibling, ignore_errors=True)
  for note in notes:
    print(f"warning: {note}", file=sys.stderr)
  return notes


def index_digest(index: Mapping[str, Any]) -> str:
  """SHA-256 of the index's content (without its own digest), written at conversion."""
  content = {key: value for key, value in index.items() if key != "index_sha256"}
  return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def read_json(path: pathlib.Path, what: str) -> Any:
  """The JSON in `path`; missing or damaged is a DataError naming the file."""
  try:
    return json.loads(path.read_text())
  except FileNotFoundError:
    raise DataError(f"{what} file is missing (the dataset is incomplete)", file=str(path)) from None
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
    raise DataError(f"{what} file is damaged: not valid JSON ({error})", file=str(path)) from None


def verify_index(index: Any, directory: pathlib.Path, file: str) -> None:
  """The index agrees with its digest, its own counts and dataset_info.json's shard lengths."""
  if not isinstance(index, dict):
    raise DataError("index is corrupt: not a JSON object", file=file)
  missing = [key for key in ("num_steps", "task_id", "domain_id", "is_terminal", "shard_lengths",
                             "tfds_name") if key not in index]
  if missing:
    raise DataError(f"index is corrupt: no {missing[0]!r}", file=file)
  if "index_sha256" in index and index["index_sha256"] != index_digest(index):
    raise DataError("index differs from its digest written at conversion (edited or damaged); "
                    "convert the dataset again", file=file)
  episodes = len(index["num_steps"])
  counts = {"task_id": len(index["task_id"]), "domain_id": len(index["domain_id"]),
            "is_terminal": len(index["is_terminal"]), "shard_lengths (sum)": sum(index["shard_lengths"])}
  if "num_episodes" in index:
    counts["num_episodes"] = index["num_episodes"]
  wrong = {name: count for name, count in counts.items() if count != episodes}
  if wrong:
    name, count = next(iter(wrong.items()))
    raise DataError(f"index is inconsistent: {episodes} episode lengths but {name} = {count}", file=file)
  if any((not isinstance(n, int)) or n < 1 for n in index["num_steps"]):
    raise DataError("index is corrupt: an episode length is not a positive integer", file=file)
  info = read_json(directory / "dataset_info.json", "TFDS metadata")
  splits = info.get("splits") if isinstance(info, dict) else None
  if splits:
    lengths = [int(n) for n in (splits[0].get("shardLengths") or [])]
    if lengths and lengths != list(index["shard_lengths"]):
      raise DataError(f"dataset_info.json says shards hold {lengths} episodes, the index says "
                      f"{index['shard_lengths']}", file=str(directory / "dataset_info.json"))


def check_episode_length(episode: Mapping[str, Any], expected: int, where: Location) -> None:
  """The index's length of an episode must be the length of the record it describes."""
  actual = len(episode["steps"]["is_first"])
  if actual != expected:
    raise DataError(f"episode has {actual} steps, the index says {expected} (index edited or damaged)",
                    where)
