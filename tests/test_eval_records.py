"""RUN/eval.json: every evaluation setting kept, read in either format, merged under a lock."""

import fcntl
import json
import multiprocessing
import os
import threading
import time

import pytest

from vaegan.errors import CheckpointError
from vaegan.files import locked_update_json
from vaegan.records import add_evaluation, read_evaluations, save_evaluation


def evaluation(metrics: dict, *, n: int = 100, seed: int = 0, step: int = 10, **details) -> dict:
    """A record as `vaegan evaluate` writes it."""
    setting = {"data": "fashion-mnist", "split": "test", "n": n, "seed": seed, "step": step}
    return setting | {"metrics": metrics} | details


def edit(strength: float, sha256: str = "a" * 64) -> dict:
    return {
        "vectors": "v.safetensors",
        "vectors_sha256": sha256,
        "strength": strength,
        "attributes": {"Bag": {}},
    }


def test_an_eval_json_of_format_1_reads_as_one_record(tmp_path):
    old = evaluation({"fd": 1.5}, domain_features={"sha256": "b" * 64})
    (tmp_path / "eval.json").write_text(json.dumps(old))
    assert read_evaluations(tmp_path) == [old]
    assert read_evaluations(tmp_path / "elsewhere") == []  # no eval.json yet


def test_a_new_setting_joins_a_format_1_file_and_the_file_becomes_format_2(tmp_path):
    (tmp_path / "eval.json").write_text(json.dumps(evaluation({"fd": 1.5})))
    current = save_evaluation(tmp_path, evaluation({"fd": 2.5}, n=50))
    assert current["metrics"] == {"fd": 2.5}
    saved = json.loads((tmp_path / "eval.json").read_text())
    assert saved["format"] == 2
    assert [(r["n"], r["metrics"]["fd"]) for r in saved["evaluations"]] == [(50, 2.5), (100, 1.5)]


def test_one_setting_merges_its_metrics_and_others_are_appended_in_order():
    records, current = add_evaluation([], evaluation({"fid": 30.0}, step=20))
    records, current = add_evaluation(records, evaluation({"mse": 0.01}, step=20))
    assert current["metrics"] == {"fid": 30.0, "mse": 0.01}  # --metrics fid, then recon
    for setting in ({"n": 50}, {"seed": 1}, {"step": 5}, {"split": "train"}):
        records, _ = add_evaluation(records, evaluation({"fd": 1.0}, step=20) | setting)
    assert len(records) == 5
    order = [(r["step"], r["split"], r["n"], r["seed"]) for r in records]
    assert order == sorted(order) and order[0] == (5, "test", 100, 0)


def test_an_edit_at_another_strength_or_of_other_vectors_is_a_setting_of_its_own():
    records, _ = add_evaluation([], evaluation({"fd": 1.0}))
    records, current = add_evaluation(records, evaluation({"edit": 0.5}, edit=edit(1.5)))
    assert len(records) == 1 and current["metrics"] == {"fd": 1.0, "edit": 0.5}
    records, current = add_evaluation(records, evaluation({"edit": 0.7}, edit=edit(3.0)))
    assert len(records) == 2 and current["metrics"] == {"fd": 1.0, "edit": 0.7}
    records, _ = add_evaluation(records, evaluation({"edit": 0.2}, edit=edit(3.0, "c" * 64)))
    assert len(records) == 3
    # The same strength and vectors again replace that record's edit, nothing else.
    records, _ = add_evaluation(records, evaluation({"edit": 0.6}, edit=edit(1.5)))
    assert [r["metrics"]["edit"] for r in records] == [0.6, 0.7, 0.2]
    # A metric that does not depend on the edit holds for every record of the setting; what is
    # reported back for it carries no older edit's rows.
    records, shown = add_evaluation(records, evaluation({"fd": 2.0}))
    assert [r["metrics"]["fd"] for r in records] == [2.0, 2.0, 2.0]
    assert "edit" not in shown and shown["metrics"]["fd"] == 2.0


def test_model_card_rows_of_records_that_differ_in_seed_or_strength_read_apart():
    from vaegan.card import describe_setting

    rows = {
        describe_setting(evaluation({"fd": 1.0}, seed=0)),
        describe_setting(evaluation({"fd": 1.1}, seed=1)),
        describe_setting(evaluation({"edit": 0.5}, edit=edit(1.5))),
        describe_setting(evaluation({"edit": 0.7}, edit=edit(3.0))),
    }
    assert len(rows) == 4 and "fashion-mnist test, n 100, seed 1, step 10" in rows


def test_a_locked_update_creates_the_folder_it_writes_into(tmp_path):
    out = tmp_path / "new" / "sub" / "f.json"  # as `finetune --out` into a folder not made yet
    assert locked_update_json(out, lambda old: {"n": 1 if old is None else old["n"] + 1}) == {
        "n": 1
    }
    assert json.loads(out.read_text()) == {"n": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"format": 3, "evaluations": []}, "eval.json format 3, unknown"),
        ({"format": 2, "evaluations": [{"n": 1}]}, "records with 'metrics' expected"),
        ({"fd": 1.0}, "records with 'metrics' expected"),
    ],
)
def test_an_unreadable_eval_json_is_named(tmp_path, content, message):
    (tmp_path / "eval.json").write_text(json.dumps(content))
    with pytest.raises(CheckpointError, match=f"eval.json: .*{message}"):
        read_evaluations(tmp_path)


def test_an_update_waits_for_the_lock_rather_than_refusing(tmp_path):
    path = tmp_path / "eval.json"
    fd = os.open(tmp_path / ".eval.json.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another open file description: as another process's
    writer = threading.Thread(target=locked_update_json, args=(path, lambda _: {"done": 1}))
    writer.start()
    time.sleep(0.3)
    assert writer.is_alive() and not path.exists()
    os.close(fd)
    writer.join(timeout=10)
    assert json.loads(path.read_text()) == {"done": 1}


def merge_records(run, worker: int, count: int) -> None:
    """A child process: merge `count` records of its own (seeds worker * 100 + i), each write
    after a pause, which widens the gap between read and write in which an unlocked update
    would lose another process's record."""
    import vaegan.files

    write = vaegan.files.atomic_write_text

    def slow_write(path, text):
        time.sleep(0.01)
        write(path, text)

    vaegan.files.atomic_write_text = slow_write
    for i in range(count):
        save_evaluation(run, evaluation({"fd": float(i)}, seed=worker * 100 + i))


@pytest.mark.slow
def test_evaluations_finishing_at_once_keep_every_record(tmp_path):
    workers, count = 4, 8
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=merge_records, args=(tmp_path, w, count)) for w in range(workers)
    ]
    for p in processes:
        p.start()
    for p in processes:
        p.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * workers
    seeds = sorted(r["seed"] for r in read_evaluations(tmp_path))
    assert seeds == sorted(w * 100 + i for w in range(workers) for i in range(count))
