"""`halsted serve`: the dashboard (Streamlit, app.py) and a mapping worker on the embedded default.

SQLite under the data directory, the bundled demo model (or HALSTED_MODEL / --model), and a demo
account whose library holds a mapped synthetic procedure (seeded on first start; idempotent).
Both processes stop together on Ctrl-C, or when the dashboard exits; a worker that exits (killed, crashed) is
restarted while the dashboard stays up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
APP = REPO_ROOT / "app.py"
SERVER = REPO_ROOT / "dashboard.py"  # st.App: app.py plus the session-cookie and video routes
STOP_GRACE_S = 15.0  # a worker mid-job needs a heartbeat or two to hand its job back


def configure(parser) -> None:
    parser.add_argument("--port", type=int, default=8501, help="dashboard port (default 8501)")
    parser.add_argument("--address", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 to reach it from other machines)")
    parser.add_argument("--data-dir", default=None, help="data directory (default: HALSTED_DATA_DIR or ~/.halsted)")
    from . import model_help

    parser.add_argument("--model", default=None, help=model_help())
    parser.add_argument("--no-worker", action="store_true",
                        help="start only the dashboard (run `halsted worker` elsewhere)")
    parser.add_argument("--no-demo", action="store_true", help="do not create the demo account")


class _WorkerKeeper:
    """The worker, restarted whenever it exits (killed, out of memory, crashed): the dashboard stays up meanwhile
    and its Map page says mapping is paused. The new worker re-queues the job the old one held (its pid is gone:
    jobs.requeue_stale) and maps it again. Restarts wait RESTART_MIN_S, doubling while the worker keeps dying
    within STEADY_S of its start, at most RESTART_MAX_S: a worker that cannot start does not spin."""

    RESTART_MIN_S, RESTART_MAX_S, STEADY_S = 1.0, 60.0, 60.0

    def __init__(self, env):
        self.env, self.proc, self.wait_s = env, None, self.RESTART_MIN_S
        self.started_at = self.due_at = 0.0

    def start(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "halsted_hf.cli", "worker"], env=self.env)
        self.started_at, self.due_at = time.monotonic(), None
        return self.proc

    def poll_restart(self) -> bool:
        """Called every half second: True when a new worker was started."""
        if self.proc.poll() is None:
            return False
        now = time.monotonic()
        if self.due_at is None:
            steady = now - self.started_at > self.STEADY_S
            self.wait_s = self.RESTART_MIN_S if steady else min(self.RESTART_MAX_S, self.wait_s * 2)
            self.due_at = now + self.wait_s
            print(f"halsted serve: the worker exited with status {self.proc.returncode}: mapping is paused; "
                  f"restarting it in {self.wait_s:g} s", flush=True)
            return False
        if now < self.due_at:
            return False
        self.start()
        print(f"halsted serve: worker restarted (pid {self.proc.pid})", flush=True)
        return True


def _stop(procs, grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM (the worker puts its running job back in the queue), then SIGKILL after grace_s."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + grace_s
    for p in procs:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run(args) -> int:
    from ..core.errors import HalstedError
    from ..platform import Platform, Settings
    from ..platform.settings import MB
    from ..platform.demo import DEMO_EMAIL, DEMO_PASSWORD, model_available, seed_demo

    if not APP.is_file():
        raise HalstedError(f"the dashboard's app.py is not at {APP}: run `halsted serve` from a source checkout "
                           "(pip install -e .)")
    if not 0 < args.port < 65536:
        raise HalstedError(f"--port must be between 1 and 65535, not {args.port}.")
    env = dict(os.environ)
    if args.data_dir:
        env["HALSTED_DATA_DIR"] = str(Path(args.data_dir).expanduser().resolve())
    if args.model:
        env["HALSTED_MODEL"] = args.model
    settings = Settings.from_env(env)
    env["HALSTED_DATA_DIR"] = str(settings.data_dir)  # children agree even if the home changes
    platform = Platform(settings)  # migrates the schema once, before two processes race to do it
    print(f"halsted serve: data in {settings.data_dir} ({settings.database_url.split(':', 1)[0]})", flush=True)
    if not model_available(settings):
        print(f"halsted serve: warning: no model at {settings.model}: mapping jobs will fail with a message "
              "until it is there (train or install it, or pass --model DIR)", flush=True)

    if not args.no_demo:
        state = seed_demo(platform, log=lambda m: print(f"halsted serve: {m}", flush=True))
        print(f"halsted serve: demo account: {state.message}", flush=True)
        env["HALSTED_DEMO_HINT"] = f"Demo account: {DEMO_EMAIL} / {DEMO_PASSWORD}"
    platform.dispose()

    procs = []
    worker = _WorkerKeeper(env) if not args.no_worker else None
    try:
        if worker is not None:
            procs.append(worker.start())
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(SERVER), "--server.headless=true",
             f"--server.port={args.port}", f"--server.address={args.address}",
             f"--server.maxUploadSize={settings.max_upload_bytes // MB}",
             "--server.fileWatcherType=none",
             "--browser.gatherUsageStats=false"], env=env, cwd=str(REPO_ROOT)))
        print(f"halsted serve: dashboard at http://{args.address}:{args.port}  (Ctrl-C stops it"
              f"{' and the worker' if not args.no_worker else ''})", flush=True)
        if not args.no_demo:
            print(f"halsted serve: sign in as {DEMO_EMAIL} with the password {DEMO_PASSWORD}", flush=True)

        def on_term(signum, _frame):
            raise KeyboardInterrupt

        signal.signal(signal.SIGTERM, on_term)
        # A shell starts background jobs with SIGINT ignored and Python keeps it ignored: then neither
        # Ctrl-C nor `kill -INT` would stop the server, and a supervisor's SIGKILL would orphan its children.
        signal.signal(signal.SIGINT, on_term)
        dashboard = procs[-1]
        while True:
            if dashboard.poll() is not None:
                print(f"halsted serve: the dashboard exited with status {dashboard.returncode}: stopping", flush=True)
                return dashboard.returncode or 1
            if worker is not None and worker.poll_restart():
                procs[0] = worker.proc
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("halsted serve: stopping", flush=True)
        return 0
    finally:
        _stop(procs)
