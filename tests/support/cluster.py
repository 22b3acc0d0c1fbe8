"""A RabbitMQ cluster of this process's own, made by ``deploy/local/cluster.sh``.

The script is the one recipe for a local cluster (``make run CLUSTER=3``
uses it too); this wraps it for the cluster's integration test, the chaos
run (``--cluster 3``) and the benchmark (``--cluster 3``). Each cluster gets
its own node names, ports and folder, so it never meets the shared single
node of ``make infra`` or another run's cluster. Starting the Debian broker
needs root, as ``make infra`` does.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = REPO_ROOT / "deploy" / "local" / "cluster.sh"
# cluster.sh's port plan: node i (from 1) listens on AMQP base+i-1 and on
# these offsets from it; all of them must be free.
PORT_OFFSETS = (0, 10_000, 10_100, 20_000)


class ClusterError(RuntimeError):
    """The cluster could not be started, or a node not stopped or started."""


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_base_port(nodes: int, rng: random.Random | None = None) -> int:
    """An AMQP base port whose whole plan (every node, every offset) is free right now.

    Between 20000 and 30000: the distribution ports (base + 20000) and the
    CLI's (those + 10000) then stay below 61000, clear of the usual ones.
    """
    chooser = rng or random.Random()
    for _ in range(200):
        base = chooser.randrange(20_000, 30_000 - nodes)
        ports = [base + offset + i for offset in PORT_OFFSETS for i in range(nodes)]
        if all(_port_free(port) for port in ports):
            return base
    raise ClusterError("no free port plan for the cluster after 200 tries")


@dataclass
class LocalCluster:
    """``nodes`` RabbitMQ nodes under ``directory``, clustered; node indexes count from 1."""

    directory: Path
    nodes: int = 3
    name_prefix: str = field(default_factory=lambda: f"ilmo-{uuid.uuid4().hex[:6]}-n")
    base_port: int = 0  # 0: a free one, chosen at the first start

    def __post_init__(self) -> None:
        if self.base_port == 0:
            self.base_port = free_base_port(self.nodes)

    @classmethod
    def in_temporary_folder(cls, prefix: str, nodes: int = 3) -> LocalCluster:
        """A cluster (not started yet) in a new temporary folder, which ``remove`` deletes."""
        root = Path(tempfile.mkdtemp(prefix=prefix))
        root.chmod(0o755)  # the rabbitmq user must reach the nodes' folders below
        return cls(root, nodes)

    def remove(self) -> None:
        """SIGKILL every node, then delete the cluster's folder.

        Killed, not stopped: the data goes anyway, and a clean stop of three
        nodes takes a minute or more on a busy machine.
        """
        try:
            for node in self.indexes:
                if self.pid(node) is not None:
                    self.kill(node)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    # ------------------------------------------------------------ addresses

    def port(self, node: int) -> int:
        return self.base_port + node - 1

    def url(self, node: int) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port(node)}/"

    @property
    def urls(self) -> str:
        """Every node, as ``ILMO_AMQP_URL`` names a cluster: comma-separated."""
        return ",".join(self.url(node) for node in self.indexes)

    @property
    def indexes(self) -> range:
        return range(1, self.nodes + 1)

    def management_url(self, node: int = 1) -> str:
        return f"http://127.0.0.1:{self.port(node) + 10_000}"

    def node_name(self, node: int) -> str:
        return f"{self.name_prefix}{node}@localhost"

    def pid(self, node: int) -> int | None:
        """The running node's pid; None if it is not running.

        The recorded pid counts only if that process carries the node's name
        in its environment (as cluster.sh checks), so a recycled pid is never
        signalled.
        """
        try:
            pid = int((self.directory / f"n{node}" / "node.pid").read_text().strip())
            environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except (OSError, ValueError):
            return None
        name = f"RABBITMQ_NODENAME={self.node_name(node)}".encode()
        return pid if name in environment else None

    # ------------------------------------------------------------ cluster.sh

    def _script(self, *arguments: str, timeout: float = 1200.0) -> str:
        environment = dict(os.environ)
        environment.update(
            {
                "ILMO_CLUSTER_NODES": str(self.nodes),
                "ILMO_CLUSTER_DIR": str(self.directory),
                "ILMO_CLUSTER_NAME": self.name_prefix,
                "ILMO_CLUSTER_PORT": str(self.base_port),
            }
        )
        done = subprocess.run(
            [str(CLUSTER_SCRIPT), *arguments],
            env=environment,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise ClusterError(
                f"cluster.sh {' '.join(arguments)}: {done.stderr.strip()[-6000:]} "
                f"(logs under {self.directory})"
            )
        return done.stdout

    def up(self) -> None:
        """Start the nodes that are not running; the first start forms the cluster."""
        if shutil.which("rabbitmq-server") is None:
            raise ClusterError("rabbitmq-server is not installed; run `make infra` first")
        self._script("up")

    def down(self) -> None:
        self._script("down")

    def start(self, node: int) -> None:
        """Start ``node`` again; it rejoins from its own data. Returns once it takes AMQP."""
        self._script("start-node", str(node))

    def stop(self, node: int) -> None:
        """A clean stop of one node: its connections are closed, the others carry on."""
        self._script("stop-node", str(node))

    def kill(self, node: int) -> None:
        """SIGKILL one node, as when its machine loses power."""
        pid = self.pid(node)
        if pid is None:
            raise ClusterError(f"no pid recorded for {self.node_name(node)}")
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)
        raise ClusterError(f"{self.node_name(node)} (pid {pid}) alive 30 s after SIGKILL")

    # ------------------------------------------------------------ what the cluster says

    def running_nodes(self, via: int = 1) -> list[str]:
        """The nodes ``via`` sees running (the management API's ``/api/nodes``)."""
        with httpx.Client(auth=("guest", "guest"), timeout=10) as api:
            answer = api.get(f"{self.management_url(via)}/api/nodes")
            answer.raise_for_status()
            return sorted(str(n["name"]) for n in answer.json() if n.get("running"))

    def quorum_members(self, queue: str, vhost: str = "/", via: int = 1) -> list[str]:
        """The nodes holding a member (a replica) of a quorum queue."""
        path = f"/api/queues/{quote(vhost, safe='')}/{quote(queue, safe='')}"
        with httpx.Client(auth=("guest", "guest"), timeout=10) as api:
            answer = api.get(f"{self.management_url(via)}{path}")
            answer.raise_for_status()
            return sorted(str(member) for member in answer.json().get("members", []))
