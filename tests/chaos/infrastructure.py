"""A RabbitMQ node and a FerretDB server owned by one chaos run, so it may kill them.

The chaos run restarts the broker and the database as faults. Doing that to
the machine's shared ones (``make infra``) would break whatever else uses them,
a developer's ``make run`` included, so the run starts its own: a second
RabbitMQ node from the same Debian package (its own node name, ports and data
directory) and a second FerretDB process from the binary ``make infra`` built
(its own port and SQLite directory). Both keep their data across a kill, as a
real restart does, and are removed when the run ends.

With ``--cluster 3`` the broker is a three-node cluster of the run's own
(made by ``deploy/local/cluster.sh``, as ``make run CLUSTER=3`` makes one):
the services get all three URLs, and a broker fault kills one node at a
time, never two.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from tests.support.cluster import LocalCluster
from tests.support.infrastructure import IsolatedInfrastructure, provision_users
from tests.support.processes import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
FERRETDB_BIN = REPO_ROOT / ".tools" / "bin" / "ferretdb"


class InfrastructureError(RuntimeError):
    """A chaos-owned server could not be started."""


def wait_for_port(port: int, timeout: float, alive: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if alive is not None and alive.poll() is not None:
            raise InfrastructureError(f"process exited with {alive.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise InfrastructureError(f"nothing listens on 127.0.0.1:{port} after {timeout:.0f}s")


@dataclass
class ChaosBroker:
    """The run's own RabbitMQ: one node, or a cluster of ``nodes``; a kill is one node's.

    The nodes come from ``deploy/local/cluster.sh`` (``tests.support.cluster``),
    the recipe of ``make run CLUSTER=3`` too: from the same Debian package as
    the shared node, as the ``rabbitmq`` user, so this needs root (as ``make
    infra`` does to start the shared node).

    ``kill`` SIGKILLs one node, and ``start`` starts it again; a second
    ``kill`` before that ``start`` is refused, so two nodes are never down at
    once and the quorum queues (three members) keep their majority. The
    nodes are killed in turn from node 1: the services connect to the first
    node that answers, so each kill hits the node they use (and the next
    the one they moved to), which makes them fail over every time.
    """

    directory: Path
    nodes: int = 1
    cluster: LocalCluster = field(init=False)
    down: int | None = None  # the node killed and not started again yet
    last_killed: int = 0
    started: bool = False

    def __post_init__(self) -> None:
        self.cluster = LocalCluster(
            self.directory, self.nodes, name_prefix=f"ilmo-chaos-{uuid.uuid4().hex[:6]}-n"
        )

    @property
    def url(self) -> str:
        return self.cluster.urls

    @property
    def management_url(self) -> str:
        # The run provisions its users once, at its start, when every node is up.
        return self.cluster.management_url(1)

    def prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)

    def start(self, timeout: float = 120.0) -> None:
        del timeout  # cluster.sh has its own
        if not self.started:
            self.cluster.up()
            self.started = True
        elif self.down is not None:
            self.cluster.start(self.down)
            self.down = None

    def kill(self) -> None:
        if self.down is not None:
            raise InfrastructureError(f"node {self.down} is still down: never two at once")
        node = self.last_killed % self.nodes + 1
        self.cluster.kill(node)
        self.down = self.last_killed = node

    def killed_node(self) -> str:
        """The node name of the last kill, for the fault log."""
        return self.cluster.node_name(self.last_killed)

    def stop(self) -> None:
        """SIGKILL every node: quick, and the run keeps or deletes the files after."""
        for node in self.cluster.indexes:
            if self.cluster.pid(node) is not None:
                self.cluster.kill(node)


@dataclass
class ChaosDatabase:
    """A FerretDB process of the run's own, with SQLite files under ``directory``."""

    directory: Path
    port: int = field(default_factory=free_port)
    debug_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def prepare(self) -> None:
        if not FERRETDB_BIN.exists():
            raise InfrastructureError(f"{FERRETDB_BIN} is missing; run `make infra` first")
        (self.directory / "data").mkdir(parents=True, exist_ok=True)

    def start(self, timeout: float = 30.0) -> None:
        with (self.directory / "ferretdb.log").open("ab") as log:
            self.process = subprocess.Popen(
                [
                    str(FERRETDB_BIN),
                    "--handler=sqlite",
                    f"--sqlite-url=file:{self.directory / 'data'}/?_pragma=secure_delete(1)",
                    f"--state-dir={self.directory}",
                    f"--listen-addr=127.0.0.1:{self.port}",
                    f"--debug-addr=127.0.0.1:{self.debug_port}",
                    "--telemetry=disable",
                    "--log-level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for_port(self.port, timeout, alive=self.process)

    def await_answer(self, timeout: float = 120.0) -> None:
        """Until a fresh client's ``ping`` is answered: the server serves, not just listens."""
        client: MongoClient[dict[str, object]] = MongoClient(
            self.url, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000
        )
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.admin.command("ping")
                    return
                except PyMongoError:
                    if time.monotonic() > deadline:
                        raise InfrastructureError(
                            f"FerretDB does not answer {timeout:.0f}s after its start"
                        ) from None
                    time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class ChaosInfrastructure:
    """The broker and database one chaos run starts, kills and removes."""

    root: Path
    broker: ChaosBroker
    database: ChaosDatabase
    run_id: str
    users: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @classmethod
    def create(cls, cluster: int = 0) -> ChaosInfrastructure:
        """One broker node; with ``cluster`` = N a cluster of N."""
        root = Path(tempfile.mkdtemp(prefix="ilmo-chaos-"))
        root.chmod(0o755)  # the rabbitmq user must reach its directory below
        return cls(
            root=root,
            broker=ChaosBroker(root / "rabbitmq", cluster or 1),
            database=ChaosDatabase(root / "ferretdb"),
            run_id=uuid.uuid4().hex[:10],
        )

    def start(self) -> None:
        self.broker.prepare()
        self.database.prepare()
        self.database.start()
        self.broker.start()
        self.users = provision_users(self.for_services()).users

    def for_services(self) -> IsolatedInfrastructure:
        """What the services and the observers connect to."""
        return IsolatedInfrastructure(
            run_id=self.run_id,
            amqp_url=self.broker.url,
            mongodb_url=self.database.url,
            management_url=self.broker.management_url,
            vhost="/",
            credentials=("guest", "guest"),
            users=self.users,
        )

    def remove(self, keep: bool = False) -> None:
        try:
            self.broker.stop()
        finally:
            self.database.stop()
            if not keep:
                shutil.rmtree(self.root, ignore_errors=True)
