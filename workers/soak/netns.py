"""The soak's network: a bridge in the root namespace and one network namespace per host.

Addresses come from 198.18.0.0/24 (the benchmarking range): the bridge is ``.1`` (where
the soak's own PostgreSQL and Redis listen), hosts are ``.11`` onwards. A namespace has
only its loopback and its veth end with a /24 address and no default route, so its
processes can reach the soak's servers and nothing else. ``cut`` takes a host's link
down (a network partition) and ``heal`` brings it back. Everything is removed by
:meth:`Network.teardown`, also after a failure.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field

SUBNET = "198.18.0"
BRIDGE_IP = f"{SUBNET}.1"


class NetnsUnavailable(RuntimeError):
    """The soak cannot build its network here (not root, or no network namespaces)."""


def check_support() -> None:
    """Raise :class:`NetnsUnavailable` naming what is missing."""
    if os.geteuid() != 0:
        raise NetnsUnavailable("agentq soak builds network namespaces: run it as root")
    if shutil.which("ip") is None:
        raise NetnsUnavailable("the `ip` command (iproute2) is not installed")
    probe = f"aqprobe{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        raise NetnsUnavailable(f"network namespaces are not available: {made.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)


def _ip(*args: str, ns: str | None = None) -> None:
    cmd = ["ip", "netns", "exec", ns, "ip", *args] if ns else ["ip", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip()}")


@dataclass
class Host:
    name: str
    ns: str
    address: str
    veth: str  # the root namespace's end (the one `cut` takes down)


@dataclass
class Network:
    """A bridge and ``hosts`` namespaces; names carry a random tag so runs never clash."""

    host_names: tuple[str, ...]
    tag: str = field(default_factory=lambda: secrets.token_hex(2))
    hosts: dict[str, Host] = field(default_factory=dict)
    bridge: str = ""

    def build(self) -> Network:
        self.bridge = f"aqbr{self.tag}"
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{BRIDGE_IP}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for i, name in enumerate(self.host_names):
            host = Host(name, f"aq{self.tag}-{name}", f"{SUBNET}.{11 + i}", f"aq{self.tag}{i}r")
            peer = f"aq{self.tag}{i}p"
            subprocess.run(["ip", "netns", "add", host.ns], check=True, capture_output=True)
            self.hosts[name] = host
            _ip("link", "add", host.veth, "type", "veth", "peer", "name", peer)
            _ip("link", "set", peer, "netns", host.ns)
            _ip("link", "set", host.veth, "master", self.bridge)
            _ip("link", "set", host.veth, "up")
            _ip("link", "set", "lo", "up", ns=host.ns)
            _ip("link", "set", peer, "name", "eth0", ns=host.ns)
            _ip("addr", "add", f"{host.address}/24", "dev", "eth0", ns=host.ns)
            _ip("link", "set", "eth0", "up", ns=host.ns)
        return self

    def command(self, host: str, argv: list[str]) -> list[str]:
        """``argv`` run inside ``host``'s namespace."""
        return ["ip", "netns", "exec", self.hosts[host].ns, *argv]

    def cut(self, host: str) -> None:
        _ip("link", "set", self.hosts[host].veth, "down")

    def heal(self, host: str) -> None:
        _ip("link", "set", self.hosts[host].veth, "up")

    def teardown(self) -> None:
        for host in self.hosts.values():
            subprocess.run(["ip", "link", "del", host.veth], capture_output=True)
            subprocess.run(["ip", "netns", "del", host.ns], capture_output=True)
        if self.bridge:
            subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
        self.hosts.clear()
        self.bridge = ""
