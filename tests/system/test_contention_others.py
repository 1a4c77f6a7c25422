"""The sampler counts a busy process that is not the run's as others' CPU: a detached process
(forked twice, so it is no descendant of this one) spins while the sampler samples."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from harness.cluster.contention import ContentionSampler

SPIN_S = 6.0
SPINNER = f"""
import os, time
if os.fork():
    os._exit(0)
os.setsid()
os.write(1, f"{{os.getpid()}}\\n".encode())
null = os.open(os.devnull, os.O_RDWR)
for fd in (0, 1, 2):  # let go of the launcher's pipes, so it returns at once
    os.dup2(null, fd)
end = time.monotonic() + {SPIN_S}
while time.monotonic() < end:
    pass
"""


def test_a_process_that_is_not_the_runs_counts_as_others() -> None:
    sampler = ContentionSampler("0001-this-run", 0.3, scan=lambda: []).start()
    launcher = subprocess.run([sys.executable, "-c", SPINNER], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, check=True, timeout=30)
    spinner = psutil.Process(int(launcher.stdout.split()[0]))
    try:
        assert spinner.pid not in {p.pid for p in psutil.Process().children(recursive=True)}
        cpu0, wall0 = sum(spinner.cpu_times()[:2]), time.monotonic()
        deadline = wall0 + 30
        while sampler.samples < 8 and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the sampler's progress, bounded by the deadline
        spun = (sum(spinner.cpu_times()[:2]) - cpu0) / (time.monotonic() - wall0)
        result = sampler.stop()
    finally:
        spinner.kill()  # ours, by pid
        spinner.wait(timeout=10)
    assert result.samples >= 8
    assert spun > 0.2, "the spinner hardly ran: the machine is too busy to tell"
    assert result.others_cpu_cores_mean >= spun - 0.2
    assert result.own_cpu_cores_mean < 0.5  # this process mostly waited
