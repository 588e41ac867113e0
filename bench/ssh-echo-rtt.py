#!/usr/bin/env python3
"""ssh-echo-rtt.py COUNT SSH_ARGS...: times 1-byte echoes through `ssh SSH_ARGS cat` (one OpenSSH
channel), one at a time after a warm-up; prints min/median/p99/max like `tether ping`."""
import math, os, subprocess, sys, time

count = int(sys.argv[1])
p = subprocess.Popen(sys.argv[2:] + ["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
fin, fout = p.stdin.fileno(), p.stdout.fileno()
rtt = []
for i in range(-min(200, count), count):
    t = time.perf_counter_ns()
    os.write(fin, b"x")
    if os.read(fout, 1) != b"x":
        sys.exit("echo ended")
    if i >= 0:
        rtt.append(time.perf_counter_ns() - t)
p.stdin.close()
p.wait()
rtt.sort()
n = len(rtt)
print("ssh channel 1-byte echo (OpenSSH): %d round trips, min %.1f us, median %.1f us, p99 %.1f us, max %.1f us"
      % (n, rtt[0] / 1e3, rtt[(n - 1) // 2] / 1e3, rtt[min(n - 1, math.ceil(n * 0.99) - 1)] / 1e3, rtt[-1] / 1e3))
