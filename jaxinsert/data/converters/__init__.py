"""Converters from robot logs and public dataset formats to RLDS datasets, one module per format.

Each format module exposes `episodes(path, spec, options, report)`, a generator of validated
RLDS episodes that also fills `report` (stored as provenance), plus `DEFAULT_SPEC` (a spec name,
or None to read the spec off the data) and `NEEDS_SPEC`; a format whose files do not describe
themselves may add `choose_spec(path, options) -> (spec, why)` for calls without a spec. `convert` ties one to
`rlds.write_dataset`, which writes atomically.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import pathlib
import subprocess
import sys
from typing import Any, Dict, Optional

from jaxinsert.data.converters.common import ConvertOptions, file_provenance, infer_spec
from jaxinsert.data.errors import DataError

FORMATS = ("d4rl_hdf5", "minari", "robomimic", "rosbag", "npz")


def format_module(name: str) -> Any:
  if name not in FORMATS:
    raise DataError(f"unknown format {name!r}; known: {', '.join(FORMATS)}", field="format")
  return importlib.import_module(f"jaxinsert.data.converters.{name}")


def _git_commit() -> Optional[str]:
  try:
    root = pathlib.Path(__file__).resolve().parents[3]
    return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                          timeout=5).stdout.strip() or None
  except (OSError, subprocess.SubprocessError):
    return None


def check_input_and_output(input_path: pathlib.Path, output: pathlib.Path) -> None:
  """The output may not be the input, hold it, or lie inside it: replacing or writing it
  would destroy or change the source."""
  source, target = input_path.resolve(), output.resolve()
  if source == target or target in source.parents or (input_path.is_dir() and source in target.parents):
    relation = ("is the input" if source == target else
                "holds the input" if target in source.parents else "lies inside the input")
    raise DataError(f"output {relation} ({source}); choose an --output_dir outside it", file=str(output))


def convert(format_name: str, input_path: Any, output_dir: Any, *, spec: Any = None, overwrite: bool = False,
            options: Optional[ConvertOptions] = None, progress: Optional[bool] = None) -> pathlib.Path:
  """Converts `input_path` (format `format_name`) to an RLDS dataset at `output_dir`; returns it."""
  from jaxinsert.data import rlds  # tensorflow_datasets is slow to import; load it on use
  from jaxinsert.data.specs import load_spec

  module = format_module(format_name)
  options = options or ConvertOptions()
  input_path = pathlib.Path(input_path)
  if not input_path.exists():
    raise DataError("input does not exist", file=str(input_path))
  output = pathlib.Path(output_dir)
  check_input_and_output(input_path, output)
  # Checked before reading any input, so a long conversion cannot fail at its very end.
  rlds.check_output(output.absolute(), overwrite)
  if spec is None and module.NEEDS_SPEC:
    raise DataError(f"format {format_name} needs --spec (which topics fill which features)", field="spec")
  report: Dict[str, Any] = {}
  if spec is None and hasattr(module, "choose_spec"):
    # The layout does not describe itself, but its sizes and rewards usually name the family.
    dataset_spec, choice = module.choose_spec(input_path, options)
    print(f"convert: {choice}", file=sys.stderr)
    report["spec_choice"] = choice
    stream = module.episodes(input_path, dataset_spec, options, report)
  elif spec is None and module.DEFAULT_SPEC is None:
    # The files describe themselves: read the spec off the first episode, then validate all.
    stream = module.episodes(input_path, None, options, report)
    first = next(stream, None)
    if first is None:
      raise DataError("input holds no episodes", file=str(input_path))
    dataset_spec = infer_spec(f"{format_name}-inferred", first, f"Inferred from {input_path.name}")
    stream = itertools.chain([first], stream)
  else:
    dataset_spec = load_spec(spec if spec is not None else module.DEFAULT_SPEC)
    stream = module.episodes(input_path, dataset_spec, options, report)
  provenance = {"converter": format_name, **file_provenance(input_path), "options": dataclasses.asdict(options),
                "jaxinsert_commit": _git_commit(), "input_report": report}
  written = rlds.write_dataset(output, _audited(stream, dataset_spec, options, report), dataset_spec,
                               provenance=provenance, overwrite=overwrite, progress=progress)
  if report.get("not_converted"):
    print(f"convert: not converted (absent from the dataset; listed in provenance.json): "
          f"{', '.join(report['not_converted'])}", file=sys.stderr)
  return written


def _audited(stream, spec, options: ConvertOptions, report: Dict[str, Any]):
  """The episodes of `stream`, with suspect values reported (see common.suspect)."""
  from jaxinsert.data.converters.common import ActionBoundsAudit

  audit = ActionBoundsAudit(spec, options, report)
  for number, episode in enumerate(stream):
    audit.check(episode, number)
    yield episode
  audit.finish()
