"""Stopping the services the tests start, by PID."""

import signal
import subprocess


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL after `timeout` seconds; reaps it. Safe on an exited process."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
