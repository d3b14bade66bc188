"""vaegan.allocator: on glibc, a freed large tensor's memory stays in the process for reuse."""

import subprocess
import sys

import pytest

CHILD = """
import sys, torch
from vaegan.allocator import keep_freed_memory
def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
x = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
held = rss_mib()
del x
print(kept, held - rss_mib())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_freed_memory_stays_for_reuse_only_when_asked():
    def released_mib(mode):
        out = subprocess.run([sys.executable, "-c", CHILD, mode], capture_output=True, text=True)
        kept, released = out.stdout.split()
        return kept, float(released)

    assert released_mib("default")[1] > 60  # glibc mmaps 64 MiB and gives it back on free
    kept, released = released_mib("keep")
    assert kept == "True" and released < 4  # kept in the heap for the next step
