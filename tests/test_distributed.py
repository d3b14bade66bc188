"""Data-parallel training: torchrun with 2 CPU processes (gloo) against one process."""

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file

from vaegan.config import RunConfig
from vaegan.distributed import SINGLE, Distributed, check_batch
from vaegan.errors import ConfigError, TrainingDiverged
from vaegan.training import train

from helpers import tiny_config, write_idx_dataset

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node"]


def losses(run: Path) -> list[dict]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in ln.items() if k.startswith("l_")} for ln in lines]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(run / "checkpoint" / "model.safetensors")


def assert_weights_close(w1: dict, w2: dict, steps: int) -> None:
    """Every weight within 2 * sqrt(10) * lr per step, the most RMSprop (alpha 0.9) can move a
    weight whose gradient is ~0 between its two signs; float summation order picks that sign.
    Elementwise relative tolerances do not suit such weights; on average they agree closely."""
    bound = 2 * 10**0.5 * 3e-4 * steps
    for key in w1:
        if w1[key].is_floating_point():
            assert (w2[key] - w1[key]).abs().max() <= bound, key
            assert (w2[key] - w1[key]).abs().mean() <= 1e-2 * bound, key


def torchrun(n: int, *args: str) -> None:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    cmd = [*TORCHRUN, str(n), "-m", "vaegan", "train", "--quiet", *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The same 4 steps (global batch 8, sync BatchNorm) in one process and in two."""
    root = tmp_path_factory.mktemp("ddp")
    data = write_idx_dataset(root / "data", n_train=64)
    cfg = tiny_config(data, steps=4)
    cfg = replace(cfg, train=replace(cfg.train, batch_size=8, sync_batchnorm=True))
    cfg.save(root / "config.json")
    train(cfg, root / "one", progress=False)
    torchrun(2, "--config", str(root / "config.json"), "--out", str(root / "two"))
    return root


@pytest.mark.slow
def test_two_processes_compute_what_one_does(runs):
    one, two = losses(runs / "one"), losses(runs / "two")
    assert len(one) == len(two) == 4
    for a, b in zip(one, two, strict=True):
        assert a.keys() == b.keys()
        for key in a:  # only the order of floating-point sums differs
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), key
    assert_weights_close(weights(runs / "one"), weights(runs / "two"), steps=4)


@pytest.mark.slow
def test_a_two_process_checkpoint_resumes_in_one_process(runs):
    """The checkpoint knows nothing of the process count: 2 then 1 equals 1 throughout."""
    for name in ("one", "two"):
        cfg = RunConfig.load(runs / name / "config.json")
        train(
            replace(cfg, train=replace(cfg.train, steps=6)),
            runs / name,
            resume=True,
            progress=False,
        )
    assert_weights_close(weights(runs / "one"), weights(runs / "two"), steps=6)
    one, two = losses(runs / "one"), losses(runs / "two")
    assert len(two) == 6
    for a, b in zip(one[4:], two[4:], strict=True):
        assert b == pytest.approx(a, rel=1e-3)


@pytest.mark.slow
def test_batch_must_divide_among_processes(tmp_path):
    data = write_idx_dataset(tmp_path / "data")
    cfg = tiny_config(data, steps=2)
    cfg = replace(cfg, train=replace(cfg.train, batch_size=5))
    cfg.save(tmp_path / "config.json")
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    cmd = [
        *TORCHRUN,
        "2",
        "-m",
        "vaegan",
        "train",
        "--quiet",
        "--config",
        str(tmp_path / "config.json"),
        "--out",
        str(tmp_path / "run"),
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode != 0
    assert "batch_size 5 must divide among 2 processes" in done.stderr
    with pytest.raises(ConfigError, match="must divide"):
        check_batch(5, 2)


def _disagreeing_rank(rank: int, port: int, results) -> None:
    os.environ |= {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
    dist.init_process_group("gloo", rank=rank, world_size=2)
    ranks = Distributed(rank=rank, world=2)
    weight = torch.ones(3)
    ranks.check_agree([weight], "weights")  # equal: passes
    weight[1] += rank * 1e-6  # rank 1 drifts
    try:
        ranks.check_agree([weight], "weights")
        results[rank] = "agreed"
    except TrainingDiverged as err:
        results[rank] = str(err)
    dist.destroy_process_group()


@pytest.mark.slow
def test_ranks_that_drift_apart_are_caught():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    results = mp.Manager().dict()
    mp.spawn(_disagreeing_rank, args=(port, results), nprocs=2)
    assert all("the ranks' weights differ" in results[r] for r in (0, 1))


@pytest.mark.slow
def test_without_sync_batchnorm_the_ranks_still_agree(tmp_path):
    """Per-rank BatchNorm statistics: running averages are averaged across ranks every step, so
    the weight check at each checkpoint (which raises on any difference) passes."""
    data = write_idx_dataset(tmp_path / "data")
    cfg = tiny_config(data, steps=3)
    cfg = replace(cfg, train=replace(cfg.train, checkpoint_every=1))
    cfg.save(tmp_path / "config.json")
    torchrun(2, "--config", str(tmp_path / "config.json"), "--out", str(tmp_path / "run"))
    assert len(losses(tmp_path / "run")) == 3


class Doubling(Distributed):
    """Two ranks whose all-reduce doubles every tensor: checks the bookkeeping, not the network."""

    def mean(self, tensors):
        return [2 * t for t in tensors]


def test_mean_gradients_reassembles_each_network_and_writes_back_the_buffers():
    bn = torch.nn.BatchNorm1d(3)
    bn.running_mean.fill_(1.0)
    grads = {"enc": (torch.ones(2), torch.full((2, 2), 3.0)), "dis": (torch.zeros(1),)}
    averaged = Doubling(rank=0, world=2).mean_gradients(grads, bn)
    assert list(averaged) == ["enc", "dis"]
    assert [g.shape for g in averaged["enc"]] == [(2,), (2, 2)]
    assert torch.equal(averaged["enc"][1], torch.full((2, 2), 6.0))
    assert torch.equal(averaged["dis"][0], torch.zeros(1))
    assert torch.equal(bn.running_mean, torch.full((3,), 2.0))  # buffers ride along
    assert bn.num_batches_tracked.item() == 0  # integer buffers are left alone
    assert SINGLE.mean_gradients(grads, bn) is grads  # one process: nothing to average


def test_mean_stats_keeps_the_names():
    stats = {"cost_real": torch.tensor(1.0), "l_dis": torch.tensor(2.0)}
    assert Doubling(rank=1, world=2).mean_stats(stats) == {
        "cost_real": torch.tensor(2.0),
        "l_dis": torch.tensor(4.0),
    }
