"""A throw-away PostgreSQL server of the drill's own (initdb in a temporary folder, a free port), so that a drill can
stop and start it without touching the machine's shared server. Debian's server binaries, run as the `postgres`
system user when the tests run as root (initdb refuses root)."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.shops.abonne_process import free_port

SERVER_PACKAGE = "postgresql"  # Debian's server package: initdb and pg_ctl under /usr/lib/postgresql/<version>/bin


def server_binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    def __init__(self) -> None:
        binaries = server_binaries()
        if binaries is None:
            raise RuntimeError(f"no PostgreSQL server binaries: install Debian's {SERVER_PACKAGE} (`make test` does)")
        self._bin = binaries
        # Its own folder under /tmp: pytest's tmp_path is private to root, which the postgres user cannot enter.
        self.root = Path(tempfile.mkdtemp(prefix="abonne-drill-pg-"))
        self._as = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.data = self.root / "data"
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.start()
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "abonne")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/abonne"

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run([*self._as, str(self._bin / program), *args], capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, f"{program} failed ({done.returncode}):\n{done.stdout}{done.stderr}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"), "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """`fast`: every session is ended at once and open transactions roll back, as a restart by the operator
        (or a crash, with `immediate`) does to the applications connected."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except AssertionError:
            pass  # already stopped
        shutil.rmtree(self.root, ignore_errors=True)
