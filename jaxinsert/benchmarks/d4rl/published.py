"""The record a published results table is kept in, and the reader that builds it from text.

Tables are transcribed as the Markdown blocks of the reference digests, which copy the source
verbatim (numbers, spacing around "±", "0." and all), and parsed here. Keeping the printed text
lets a reviewer diff a block against its source line by line; the parsed numbers are what code
uses. Printed totals are kept next to the rows so that tests can re-add every column: a
transcription error then shows up as a new mismatch, and the source's own arithmetic slips are
listed once, in `known_discrepancies`, with what the sum actually gives.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Mapping, Optional

# (mean, standard deviation over seeds, or None where the source prints no spread).
Score = tuple[float, Optional[float]]

# The tolerance for re-added totals: sums of one-decimal numbers printed to one decimal.
ROUNDING_TOLERANCE = 0.15

# Table 1 abbreviates dataset names ("hopper-m-r-v2"); rows are keyed by the full D4RL name.
_ABBREVIATIONS = {
    "m": "medium", "m-r": "medium-replay", "m-e": "medium-expert",
    "u": "umaze", "u-d": "umaze-diverse", "m-p": "medium-play", "m-d": "medium-diverse",
    "l-p": "large-play", "l-d": "large-diverse",
}
_VERSIONED = re.compile(r"^(?P<env>[a-z0-9]+)-(?P<middle>.+)-(?P<version>v\d+)$")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)"
_CELL = re.compile(rf"^(?P<mean>{_NUMBER})\s*%?\s*(?:(?:±|\\pm)\s*(?P<std>{_NUMBER}))?$")
_NOT_REPORTED = {"", "-", "–", "—", "(none)"}


@dataclasses.dataclass(frozen=True)
class Discrepancy:
  """A printed total that its own column does not add up to (kept as printed, noted here)."""

  total: str       # the total row, as printed ("antmaze-v0 total")
  column: str
  quantity: str    # "mean", or "std" where a printed ± total is the sum of the rows' stds
  printed: float
  computed: float  # what the printed rows (and printed sub-totals) add up to
  note: str = ""

  @property
  def beyond_rounding(self) -> bool:
    return abs(self.printed - self.computed) > ROUNDING_TOLERANCE


@dataclasses.dataclass(frozen=True)
class PublishedTable:
  """One published table: rows {dataset: {column: (mean, std or None)}} plus its printed totals.

  `total_members[total]` names what a total adds up: dataset rows or other (printed) totals.
  `total_kind` is "sum" (thesis tables) or "mean" (CORL's "average" rows).
  """

  name: str
  source: str
  columns: tuple[str, ...]
  rows: Mapping[str, Mapping[str, Score]]
  totals: Mapping[str, Mapping[str, Score]] = dataclasses.field(default_factory=dict)
  total_members: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
  total_kind: str = "sum"
  decimals: int = 1
  units: str = "D4RL normalised score (0 random, 100 expert)"
  seed_lines: Optional[tuple[int, int]] = None  # lines in reference/seeds/004_nair_thesis.txt
  printed_labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
  text_rows: Mapping[str, Mapping[str, str]] = dataclasses.field(default_factory=dict)
  known_discrepancies: tuple[Discrepancy, ...] = ()
  notes: tuple[str, ...] = ()
  printed_markdown: str = ""  # the block the table was read from, for checks against the source

  def column(self, column: str) -> dict[str, Score]:
    """Every dataset's score in one column (datasets the column leaves blank are left out)."""
    if column not in self.columns:
      raise KeyError(f"{self.name} has no column {column!r}; columns: {list(self.columns)}")
    return {dataset: scores[column] for dataset, scores in self.rows.items() if column in scores}

  def find_row(self, dataset: str) -> Optional[str]:
    """The row key a dataset name refers to, or None. Accepts "hopper-m-v2" and full names;
    rows printed without a version (AWAC's Figure 75) match any version of that dataset."""
    name = canonical_dataset_name(dataset)
    if name in self.rows:
      return name
    unversioned = re.sub(r"-v\d+$", "", name)
    return unversioned if unversioned in self.rows else None

  def computed_total(self, total: str, column: str, quantity: str = "mean") -> Optional[float]:
    """What the members of a printed total add up to (None where any member lacks the value,
    or where the members are in another table)."""
    if not self.total_members[total]:
      return None
    values = []
    for member in self.total_members[total]:
      score = (self.rows.get(member) or self.totals.get(member) or {}).get(column)
      value = None if score is None else (score[0] if quantity == "mean" else score[1])
      if value is None:
        return None
      values.append(value)
    if self.total_kind == "mean":
      return sum(values) / len(values)
    return sum(values)


def canonical_dataset_name(label: str) -> str:
  """Lower-case D4RL name with Table 1's abbreviations spelled out ("hopper-m-r-v2" ->
  "hopper-medium-replay-v2"); other labels only lose Markdown emphasis and case."""
  name = label.strip().strip("*").strip().lower()
  match = _VERSIONED.match(name)
  if match and match["middle"] in _ABBREVIATIONS:
    return f"{match['env']}-{_ABBREVIATIONS[match['middle']]}-{match['version']}"
  return name


def parse_cell(text: str) -> Optional[Score]:
  """One printed cell -> (mean, std or None); None for "-" (not reported).

  Accepts the printed forms met in the sources: "47.4±0.2", "78.3± 8.7", "87.5 ± 2.6", "0.",
  "84%", and JAX-CORL's LaTeX "$46.23\\pm0.23$".
  """
  cleaned = text.strip().strip("$").strip()
  if cleaned in _NOT_REPORTED:
    return None
  match = _CELL.match(cleaned)
  if match is None:
    raise ValueError(f"Cannot read a score from the cell {text!r}")
  std = match["std"]
  return float(match["mean"]), (None if std is None else float(std))


def _markdown_cells(line: str) -> list[str]:
  return [cell.strip() for cell in line.strip().strip("|").split("|")]


def from_markdown(markdown: str, *, columns: tuple[str, ...],
                  total_members: Optional[Mapping[str, tuple[str, ...]]] = None,
                  label_columns: int = 1, **metadata) -> PublishedTable:
  """Build a table from a Markdown block whose first line is the printed header.

  A cell printed "a→ b" (offline → online finetuning) fills two consecutive `columns`.
  With `label_columns=2` the first two cells form the row label ("HalfCheetah | random" ->
  "halfcheetah-random"). Rows named in `total_members` go to `totals`.
  """
  total_members = dict(total_members or {})
  lines = [line for line in markdown.strip().splitlines() if line.strip().startswith("|")]
  rows, totals, printed_labels = {}, {}, {}
  for line in lines[1:]:
    cells = _markdown_cells(line)
    if set("".join(cells)) <= set("-: "):
      continue  # the |---|---| separator
    label_cells = [cell.strip("*").strip() for cell in cells[:label_columns]]
    printed_label = " ".join(label_cells)
    values = []
    for cell in cells[label_columns:]:
      values.extend(cell.split("→") if "→" in cell else [cell])
    if len(values) != len(columns):
      raise ValueError(f"Row {printed_label!r} has {len(values)} values for {len(columns)} "
                       f"columns {columns}")
    scores = {column: score for column, score in zip(columns, map(parse_cell, values))
              if score is not None}
    if printed_label in total_members:
      totals[printed_label] = scores
    else:
      key = canonical_dataset_name("-".join(label_cells))
      if key in rows:
        raise ValueError(f"Row {printed_label!r} appears twice")
      rows[key] = scores
      printed_labels[key] = printed_label
  missing = set(total_members) - set(totals)
  if missing:
    raise ValueError(f"Totals {sorted(missing)} are named but not in the block")
  for total, members in total_members.items():
    unknown = [member for member in members if member not in rows and member not in totals]
    if unknown:
      raise ValueError(f"Total {total!r} adds up unknown rows {unknown}")
  return PublishedTable(columns=columns, rows=rows, totals=totals, total_members=total_members,
                        printed_labels=printed_labels, printed_markdown=markdown.strip(),
                        **metadata)


def total_mismatches(table: PublishedTable) -> list[Discrepancy]:
  """Every printed total (mean, and ± where printed) that its members do not reproduce to the
  printed precision. A total with any blank member is not checked."""
  # Half a unit of the last printed digit, so only an exact round trip counts as agreement.
  tolerance = 0.5 * 10.0 ** -table.decimals + 1e-9
  found = []
  for total, printed_row in table.totals.items():
    for column, (printed_mean, printed_std) in printed_row.items():
      for quantity, printed in (("mean", printed_mean), ("std", printed_std)):
        if printed is None:
          continue
        computed = table.computed_total(total, column, quantity)
        if computed is not None and abs(computed - printed) > tolerance:
          found.append(Discrepancy(total, column, quantity, printed, round(computed, 6)))
  return found
