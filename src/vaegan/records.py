"""RUN/eval.json: every evaluation setting a run has been scored under, one record each.

Format 2: {"format": 2, "evaluations": [record, ...]}. A record is what `vaegan evaluate` wrote
for one setting: {data, split, n, seed, step, metrics: {...}} and the details of some metrics
("edit", "classes", "similarity", "domain_features", "inception_features"). Format 1 (before it)
was a single record; it reads as a list of one. `vaegan evaluate` merges into the file under a
lock (vaegan.files.locked_update_json), so two evaluations finishing at once both stay.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vaegan.errors import CheckpointError
from vaegan.files import locked_update_json, read_json

EVAL_FILE = "eval.json"
FORMAT = 2
# What makes two evaluations one setting: the same checkpoint scored on the same images with the
# same random draws. Every metric's numbers depend on these.
SETTING = ("data", "split", "n", "seed", "step")
# The metrics whose numbers also depend on the edit's strength and vectors (and its attributes,
# which its means run over). Only they do, so only records that hold an edit are told apart by
# those (edit_setting): `--metrics fd` then `--metrics edit` on one setting make one record, while
# an edit at another strength, or with vectors of other content, makes a record of its own.
EDIT_METRICS = ("edit", "edit_base")
# Columns that say which setting a row of `compare` or the report is ("strength" where an edit is).
SETTING_COLUMNS = ("step", "split", "n", "seed")


def eval_file(run: Path) -> Path:
    """The path of RUN/eval.json, whether or not it exists yet."""
    return Path(run) / EVAL_FILE


def records_of(data: dict, source: Path) -> list[dict]:
    """The records of eval.json's content, either format; an error naming `source` otherwise."""
    if data.get("format", 1) not in (1, FORMAT):
        raise CheckpointError(
            f"{source}: eval.json format {data['format']!r}, unknown to this vaegan"
        )
    records = data.get("evaluations") if data.get("format") == FORMAT else [data]
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and isinstance(r.get("metrics"), dict) for r in records
    ):
        raise CheckpointError(f"{source}: not an eval.json (records with 'metrics' expected)")
    return records


def read_evaluations(run: Path) -> list[dict]:
    """Every evaluation record of the run (either format of RUN/eval.json); [] if none yet."""
    path = eval_file(run)
    return records_of(read_json(path, CheckpointError), path) if path.is_file() else []


def edit_setting(record: dict) -> tuple | None:
    """What the edit's numbers depend on beyond SETTING; None for a record without an edit. The
    vectors count by content (SHA-256; records of format 1 have only the path): a path names
    different vectors once they are recomputed, and the same vectors under two paths agree."""
    edit = record.get("edit")
    if not isinstance(edit, dict):
        return None
    vectors = edit.get("vectors_sha256") or edit.get("vectors")
    return edit.get("strength"), vectors, tuple(sorted(edit.get("attributes", {})))


def setting_of(record: dict) -> tuple:
    """The record's (data, split, n, seed, step): records equal in it scored the same images with
    the same draws."""
    return tuple(record.get(k) for k in SETTING)


def merged(earlier: dict, later: dict) -> dict:
    """`later`'s details and metrics over `earlier`'s; the metrics of both stay."""
    return earlier | later | {"metrics": earlier["metrics"] | later["metrics"]}


def without_edit(record: dict) -> dict:
    """The record less its edit: what holds for every edit setting of its setting."""
    metrics = {k: v for k, v in record["metrics"].items() if k not in EDIT_METRICS}
    return {k: v for k, v in record.items() if k != "edit"} | {"metrics": metrics}


def sort_key(record: dict) -> tuple:
    """By step, then split, n, seed, data, then edit setting; a missing value first."""
    edit = edit_setting(record)
    values = [record.get(k) for k in ("step", "split", "n", "seed", "data")]
    values += [edit is not None, *(edit or ())]
    return tuple((v is not None, "" if v is None else v) for v in values)


def add_evaluation(records: list[dict], new: dict) -> tuple[list[dict], dict]:
    """`records` with evaluation `new` merged in, sorted, and the record of new's setting.

    Its metrics other than the edit's hold for every record of its SETTING, so they merge into
    each; its edit merges into the record of the same edit setting, else into one without an edit
    yet, else starts a record of its own (with the rest of that setting's metrics).
    """
    same = [r for r in records if setting_of(r) == setting_of(new)]
    others = [r for r in records if setting_of(r) != setting_of(new)]
    same = [merged(r, without_edit(new)) for r in same] or [without_edit(new)]
    if "edit" not in new:  # report the record without an older edit's rows, if there is one
        shown = next((r for r in same if edit_setting(r) is None), without_edit(same[0]))
        return sorted(others + same, key=sort_key), shown
    key = edit_setting(new)
    target = next((r for r in same if edit_setting(r) == key), None)
    if target is None:
        target = next((r for r in same if edit_setting(r) is None), None)
    current = merged(without_edit(same[0]) if target is None else target, new)
    same = [r for r in same if r is not target] + [current]
    return sorted(others + same, key=sort_key), current


def save_evaluation(run: Path, record: dict) -> dict:
    """Merge one evaluation into RUN/eval.json (format 2) under its lock; returns the merged
    record of its setting."""
    path = eval_file(run)
    current: dict = {}

    def update(data: dict | None) -> dict:
        nonlocal current
        records, current = add_evaluation([] if data is None else records_of(data, path), record)
        return {"format": FORMAT, "evaluations": records}

    locked_update_json(path, update)
    return current


def evaluation_rows(records: list[dict]) -> list[dict[str, Any]]:
    """One row per record: its setting (the edit's strength where it has one), then its metrics."""
    rows = []
    for record in records:
        row = {k: record.get(k) for k in ("data", *SETTING_COLUMNS)}
        if isinstance(record.get("edit"), dict):
            row["strength"] = record["edit"].get("strength")
        rows.append(row | record["metrics"])
    return rows


def setting_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The setting columns of evaluation rows: data only where it varies, strength where any
    row has one."""
    if not any(SETTING_COLUMNS[0] in row for row in rows):
        return []  # no run evaluated yet
    columns = list(SETTING_COLUMNS)
    if len({row["data"] for row in rows if "data" in row}) > 1:
        columns.insert(0, "data")
    return columns + (["strength"] if any("strength" in row for row in rows) else [])
