"""Convert robot logs or public dataset files to an RLDS dataset directory:

  python experiments/convert.py --format=d4rl_hdf5 --input=hopper-medium-v2.hdf5 \
      --output_dir=data/hopper-medium-v2 --spec=d4rl-locomotion:hopper
  python experiments/convert.py --format=rosbag --input=logs/ --spec=sawyer-log --output_dir=data/sawyer

Formats: d4rl_hdf5, minari, robomimic, rosbag (needs --spec), npz. Bad input stops the run with
one line naming the file, episode, step and field, exit code 1, and nothing written; an existing
output is replaced only with --overwrite, only if it is a jaxinsert dataset and not the input, and
the replaced dataset is named on stderr.
"""

import json
import os
import sys

from absl import app, flags

from jaxinsert.data.converters import FORMATS

_FORMAT = flags.DEFINE_enum("format", None, list(FORMATS), "Input format.")
_INPUT = flags.DEFINE_string("input", None, "Input file or directory.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Dataset directory to create.")
_SPEC = flags.DEFINE_string("spec", None, "Spec family[@major][:variant] or JSON path; default per format.")
_OVERWRITE = flags.DEFINE_bool("overwrite", False, "Replace an existing dataset at --output_dir.")
_TASK_ID = flags.DEFINE_integer("task_id", 0, "Task id written into every episode.")
_DOMAIN_ID = flags.DEFINE_integer("domain_id", 0, "Domain id written into every episode.")
_SPLIT = flags.DEFINE_bool("split_on_discontinuity", False,
                           "d4rl_hdf5/npz: also end episodes where next_observations[i] != observations[i+1].")
_MAX_STEPS = flags.DEFINE_integer("max_episode_steps", None, "d4rl_hdf5/npz without 'timeouts': the time limit.")
_PICKLE = flags.DEFINE_bool("allow_pickle", False, "npz: allow Python objects (runs pickle; trusted files only).")
_OBS_FEATURE = flags.DEFINE_string("obs_feature", None, "Flat layouts: spec feature that gets 'observations'.")
_FILTER_KEY = flags.DEFINE_string("filter_key", None, "robomimic: only demos in mask/<filter_key>.")
_RATE = flags.DEFINE_float("rate_hz", None, "rosbag: control clock rate (default: the spec's).")
_GAP = flags.DEFINE_float("episode_gap_s", None, "rosbag: command gap that ends an episode (default: spec's).")
_DUPLICATES = flags.DEFINE_bool("allow_duplicate_stamps", False,
                                "rosbag: keep the later of two messages with the same stamp (else refused).")
_STRICT = flags.DEFINE_bool("strict", False, "Refuse suspect values (actions outside the spec's bounds, NaN in "
                            "unused next_observations rows) instead of converting them with a warning.")
flags.mark_flags_as_required(["format", "input", "output_dir"])


def main(argv):
  del argv
  from jaxinsert.data import converters
  from jaxinsert.data.converters.common import ConvertOptions
  from jaxinsert.data.errors import DataError

  options = ConvertOptions(task_id=_TASK_ID.value, domain_id=_DOMAIN_ID.value, split_on_discontinuity=_SPLIT.value,
                           max_episode_steps=_MAX_STEPS.value, allow_pickle=_PICKLE.value,
                           obs_feature=_OBS_FEATURE.value, filter_key=_FILTER_KEY.value, rate_hz=_RATE.value,
                           episode_gap_s=_GAP.value, allow_duplicate_stamps=_DUPLICATES.value,
                           strict=_STRICT.value)
  try:
    path = converters.convert(_FORMAT.value, _INPUT.value, _OUTPUT_DIR.value, spec=_SPEC.value,
                              overwrite=_OVERWRITE.value, options=options)
  except DataError as error:
    print(f"convert: error: {error}", file=sys.stderr)
    return 1
  with open(os.path.join(path, "provenance.json")) as handle:
    provenance = json.load(handle)
  print(json.dumps({"output_dir": str(path), "spec": provenance["spec"], "episodes": provenance["num_episodes"],
                    "steps": provenance["num_steps"]}))
  return 0


if __name__ == "__main__":
  app.run(lambda argv: sys.exit(main(argv)))
