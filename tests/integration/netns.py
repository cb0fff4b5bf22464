"""A network of Linux network namespaces for fault tests: node i lives in a namespace of its
own at 10.77.<subnet>.<i+1>, all joined by one bridge in the test's namespace (which reaches
every node at .254, so clients are never cut off). Links between nodes are cut by blackhole
routes inside the namespaces: packets to the cut peer are dropped, in one direction or both.
Needs root (CAP_NET_ADMIN) and `ip`; Network.create() returns None where the machine does not
allow it."""
import os
import subprocess


def ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


class Network:
    def __init__(self, size):
        tag = os.getpid() % 10000
        self.size = size
        self.subnet = 10 + tag % 240  # parallel runs on one machine get their own subnet
        self.bridge = f"rbr{tag}"
        self.namespaces = [f"riacho{tag}n{i + 1}" for i in range(size)]
        self.cut_links = set()  # (from node index, to node index)

    @classmethod
    def create(cls, size):
        if os.geteuid() != 0:
            return None
        net = cls(size)
        try:
            net._setup()
        except (OSError, subprocess.CalledProcessError):
            net.destroy()
            return None
        return net

    def host(self, i):
        return f"10.77.{self.subnet}.{i + 1}"

    def prefix(self, i):
        return ["ip", "netns", "exec", self.namespaces[i]]

    def _setup(self):
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"10.77.{self.subnet}.254/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for i, ns in enumerate(self.namespaces):
            outside, inside = f"{self.bridge}h{i + 1}", f"{self.bridge}n{i + 1}"
            ip("netns", "add", ns)
            ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            ip("link", "set", inside, "netns", ns)
            ip("link", "set", outside, "master", self.bridge, "up")
            ip("-n", ns, "addr", "add", f"{self.host(i)}/24", "dev", inside)
            ip("-n", ns, "link", "set", inside, "up")
            ip("-n", ns, "link", "set", "lo", "up")

    def cut(self, a, b, both_ways=True):
        """Node a's packets to node b are dropped (and b's to a with both_ways)."""
        for src, dst in ((a, b), (b, a)) if both_ways else ((a, b),):
            if (src, dst) not in self.cut_links:
                ip("-n", self.namespaces[src], "route", "add", "blackhole", f"{self.host(dst)}/32")
                self.cut_links.add((src, dst))

    def isolate(self, a):
        for b in range(self.size):
            if b != a:
                self.cut(a, b)

    def heal(self):
        for src, dst in list(self.cut_links):
            ip("-n", self.namespaces[src], "route", "del", "blackhole", f"{self.host(dst)}/32",
               check=False)
        self.cut_links.clear()

    def destroy(self):
        for ns in self.namespaces:
            ip("netns", "del", ns, check=False)  # takes its veth ends with it
        ip("link", "del", self.bridge, check=False)
