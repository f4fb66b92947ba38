# The socket helper of a script `ctmodel export --sh` writes: it holds every socket the scenario opens, in the
# namespace each was made in, and at the end compares what the kernel did with what the model predicted. It
# mirrors ctmodel's own kernel replay (replay/Kernel/KernelReplay.cs and KernelReplay.Udp.cs) call for call, so
# that the script and `ctmodel replay` observe the same things the same way.
#
# Protocol: one command per line on stdin, one reply line on stdout ("ok", "stop END", "error TEXT"); everything
# meant for the reader goes to stderr. Python 3.6+, standard library only; setns(2) through libc because os.setns
# arrived only in 3.12.
import ctypes
import errno
import fcntl
import json
import os
import socket
import struct
import subprocess
import sys
import termios
import time

CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)
TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
              7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"}
ERRNO_NAMES = {22: "EINVAL", 32: "EPIPE", 98: "EADDRINUSE", 99: "EADDRNOTAVAIL", 104: "ECONNRESET",
               110: "ETIMEDOUT", 101: "ENETUNREACH", 111: "ECONNREFUSED", 113: "EHOSTUNREACH", 92: "ENOPROTOOPT"}


def errno_name(n):
    return ERRNO_NAMES.get(n, "E%d" % n)


def note(text):
    """A line of the run's log (stderr, which the script sends to its log file)."""
    sys.stderr.write("    %s\n" % text)
    sys.stderr.flush()


def addr(text):
    ip, port = text.rsplit(":", 1)
    return (ip, int(port))


def text_of(sockaddr):
    return "%s:%d" % (sockaddr[0], sockaddr[1])


def available(s):
    buf = struct.pack("i", 0)
    return struct.unpack("i", fcntl.ioctl(s.fileno(), termios.FIONREAD, buf))[0]


def so_error(s):
    """SO_ERROR as the raw errno (reading it clears the pending error, as getsockopt does)."""
    return s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


class End:
    """One TCP socket end the scenario opened: its socket while the application holds it, and what it read."""

    def __init__(self, name, sock):
        self.name = name
        self.sock = sock
        self.app_closed = False
        self.error_at_close = None
        self.labels = []
        self.partial = b""


class Udp:
    """A UDP socket the scenario made: a connection's client or a server."""

    def __init__(self, name, netns, sock):
        self.name = name
        self.netns = netns
        self.sock = sock
        self.error_at_close = None
        self.connected = False
        self.labels = []
        self.local = ""


class Peer:
    """What a server socket learned of one UDP connection from its datagrams."""

    def __init__(self, server_key, last_from):
        self.server_key = server_key
        self.last_from = last_from
        self.seen = []
        self.received = []


class Driver:
    def __init__(self, connect_timeout_ms):
        self.connect_timeout = connect_timeout_ms / 1000.0
        self.namespaces = []  # (scenario name or None, real name), in the order they were made
        self.real = {}
        self.current = None
        self.listeners = {}  # (netns, address) -> socket
        self.parked = []
        self.ends = {}
        self.connections = []  # (name, result, local, peer)
        self.udp_clients = {}
        self.udp_servers = {}
        self.udp_peers = {}
        self.label_owner = {}
        self.server_labels = set()

    # --- namespaces -------------------------------------------------------------------------------------------
    def netns(self, name, real):
        key = None if name == "-" else name
        self.namespaces.append((key, real))
        self.real[key] = real

    def enter(self, name):
        key = None if name == "-" else name
        real = self.real[key]
        if self.current == real:
            return key
        fd = open("/var/run/netns/" + real, "rb")
        try:
            if LIBC.setns(fd.fileno(), CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns " + real)
        finally:
            fd.close()
        self.current = real
        return key

    # --- TCP --------------------------------------------------------------------------------------------------
    def listen(self, netns, proto, address):
        key = self.enter(netns)
        if proto == "udp":
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind(addr(address))
            s.setblocking(False)
            u = Udp("(udp %s)" % address, key, s)
            u.local = address
            self.udp_servers[(key, address)] = u
            return
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(addr(address))
        s.listen(128)
        s.setblocking(False)
        self.listeners[(key, address)] = s

    def connect(self, netns, proto, name, local, remote):
        key = self.enter(netns)
        if proto == "udp":
            return self.connect_udp(key, name, local, remote)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        end = End(name, s)
        self.ends[name] = end
        if local != "-":
            try:
                s.bind(addr(local))
            except OSError as x:
                note("bind %s: %s" % (local, errno_name(x.errno)))
                s.close()
                end.sock = None
                end.app_closed = True
                self.connections.append((name, "bind-" + errno_name(x.errno), local, None))
                return
        # A blocking connect bounded by SO_SNDTIMEO (inet_stream_connect waits sock_sndtimeo): it returns on success,
        # on the error (which connect() thereby consumes), or after the timeout with EINPROGRESS.
        secs = int(self.connect_timeout)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, struct.pack("ll", secs, int((self.connect_timeout - secs) * 1e6)))
        try:
            s.connect(addr(remote))
            result = "established"
        except OSError as x:
            result = {errno.ECONNREFUSED: "refused", errno.ECONNRESET: "reset", errno.ENETUNREACH: "unreachable",
                      errno.EHOSTUNREACH: "unreachable", errno.ETIMEDOUT: "timeout", errno.EINPROGRESS: "timeout"}.get(x.errno, "error " + errno_name(x.errno))
        local0 = text_of(s.getsockname())
        if result == "timeout":
            # The application gives up and closes the socket, as the model's does.
            end.error_at_close = "ETIMEDOUT"
            end.app_closed = True
            s.close()
            end.sock = None
            self.park_unaccepted()
        else:
            s.setblocking(False)
        peer = self.accept_for(name) if result == "established" else None
        note("connect %s: %s, local %s%s" % (name, result, local0, "" if peer is None else ", server sees " + peer))
        self.connections.append((name, result, local0, peer))

    def park_unaccepted(self):
        """A connection the server completed as its connect timed out is never accepted: held, attributed to nobody."""
        time.sleep(0.02)
        for listener in self.listeners.values():
            while True:
                try:
                    self.parked.append(listener.accept()[0])
                except BlockingIOError:
                    break

    def accept_for(self, name):
        until = time.monotonic() + 0.2
        while time.monotonic() < until:
            for listener in self.listeners.values():
                try:
                    a, peer = listener.accept()
                except BlockingIOError:
                    continue
                a.setblocking(False)
                self.ends[name + ".server"] = End(name + ".server", a)
                return text_of(peer)
            time.sleep(0.001)
        note("%s: established but no listener had it queued" % name)
        return None

    def unusable(self, end):
        """The end if the model would refuse a send or close on it, else None."""
        conn = end[:-len(".server")] if end.endswith(".server") else end
        if conn in self.udp_clients:
            client = self.udp_clients[conn]
            if end == conn:
                return end if client.sock is None or not client.connected else None
            peer = self.udp_peers.get(conn)
            return None if peer is not None and self.udp_servers[peer.server_key].sock is not None else end
        e = self.ends.get(end)
        return end if e is None or e.app_closed else None

    def send(self, end, label):
        conn = end[:-len(".server")] if end.endswith(".server") else end
        if conn in self.udp_clients:
            return self.send_udp(end, conn, label)
        e = self.ends[end]
        try:
            n = e.sock.send((label + "\n").encode())
            note("send %s: %d bytes" % (end, n))
        except OSError as x:
            note("send %s: %s" % (end, errno_name(x.errno)))

    def close(self, end, abort):
        conn = end[:-len(".server")] if end.endswith(".server") else end
        if conn in self.udp_clients:
            u = self.udp_clients[conn] if end == conn else self.udp_servers[self.udp_peers[conn].server_key]
            if u.sock is None:
                return
            self.drain()
            err = so_error(u.sock)
            u.error_at_close = errno_name(err) if err else None
            u.sock.close()
            u.sock = None
            return
        e = self.ends[end]
        if e.sock is None:
            return
        self.drain()
        # The error pending when the application closed the end is what the model reports for it.
        err = so_error(e.sock)
        e.error_at_close = errno_name(err) if err else None
        if abort:
            e.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        e.sock.close()
        e.sock = None
        e.app_closed = True

    def drain(self):
        """Reads whatever has arrived on every end, never more than FIONREAD reports (a pending error stays)."""
        self.drain_udp()
        for e in self.ends.values():
            if e.sock is None:
                continue
            try:
                n = available(e.sock)
            except OSError:
                continue
            if n <= 0:
                continue
            try:
                got = e.sock.recv(n)
            except OSError:
                continue
            if not got:
                continue
            e.partial += got
            lines = e.partial.split(b"\n")
            e.labels.extend(x.decode() for x in lines[:-1])
            e.partial = lines[-1]
            note("%s read %d bytes" % (e.name, len(got)))

    # --- UDP --------------------------------------------------------------------------------------------------
    def connect_udp(self, key, name, local, remote):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u = Udp(name, key, s)
        self.udp_clients[name] = u
        try:
            if local != "-":
                s.bind(addr(local))
            s.connect(addr(remote))
            s.setblocking(False)
            u.connected = True
            result = "connected"
        except OSError as x:
            result = "unreachable" if x.errno == errno.ENETUNREACH else "error " + errno_name(x.errno)
        u.local = text_of(s.getsockname())
        if not u.connected:
            s.close()
            u.sock = None
        note("connect -u %s: %s, local %s" % (name, result, u.local))
        self.connections.append((name, result, u.local, None))

    def send_udp(self, end, conn, label):
        self.label_owner[label] = conn
        if end != conn:
            self.server_labels.add(label)
        data = label.encode()
        if end == conn:
            try:
                n = self.udp_clients[conn].sock.send(data)
                note("send %s: %d bytes" % (end, n))
            except OSError as x:
                note("send %s: %s" % (end, errno_name(x.errno)))
            return
        peer = self.udp_peers[conn]
        try:
            n = self.udp_servers[peer.server_key].sock.sendto(data, peer.last_from)
            note("send %s to %s: %d bytes" % (end, text_of(peer.last_from), n))
        except OSError as x:
            note("send %s: %s" % (end, errno_name(x.errno)))

    def drain_udp(self):
        """Every datagram that arrived; a read that returns an error consumed the socket's pending error."""
        for u in list(self.udp_clients.values()) + list(self.udp_servers.values()):
            if u.sock is None:
                continue
            for _ in range(10000):
                try:
                    if available(u.sock) <= 0:
                        break
                    data, source = u.sock.recvfrom(2048)
                except BlockingIOError:
                    break
                except OSError as x:
                    note("%s read: %s (the pending error, consumed)" % (u.name, errno_name(x.errno)))
                    continue
                label = data.decode()
                note("%s read \"%s\" from %s" % (u.name, label, text_of(source)))
                owner = self.label_owner.get(label)
                if u.name in self.udp_clients and self.udp_clients[u.name] is u:
                    u.labels.append(label)
                    continue
                # A server socket: the datagram of a connection's client teaches it where that connection is.
                if owner is None or owner not in self.udp_clients or label in self.server_labels:
                    continue
                key = next(k for k, v in self.udp_servers.items() if v is u)
                peer = self.udp_peers.get(owner)
                if peer is None:
                    peer = self.udp_peers[owner] = Peer(key, source)
                peer.server_key = key
                peer.last_from = source
                seen = text_of(source)
                if seen not in peer.seen:
                    peer.seen.append(seen)
                peer.received.append(label)

    # --- the observation --------------------------------------------------------------------------------------
    def end_of(self, name):
        e = self.ends.get(name)
        if e is None:
            return None
        if e.app_closed:
            return "CLOSED_BY_APP" + ("" if e.error_at_close is None else " (%s)" % e.error_at_close)
        info = e.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
        state = TCP_STATES.get(info[0], "TCP_STATE_%d" % info[0])
        err = so_error(e.sock)
        return state if err == 0 else "%s (%s)" % (state, errno_name(err))

    @staticmethod
    def udp_end(u):
        if u.sock is None:
            return "CLOSED_BY_APP" + ("" if u.error_at_close is None else " (%s)" % u.error_at_close)
        err = so_error(u.sock)
        return "UDP" if err == 0 else "UDP (%s)" % errno_name(err)

    def observe(self):
        connections = []
        for name, result, local, peer in self.connections:
            if name in self.udp_clients:
                client = self.udp_clients[name]
                p = self.udp_peers.get(name)
                connections.append({
                    "name": name, "connect": result, "local": local, "wire": [] if p is None else list(p.seen),
                    "client": self.udp_end(client),
                    "server": "(never accepted)" if p is None else self.udp_end(self.udp_servers[p.server_key]),
                    "delivered": [] if p is None else list(p.received), "received": list(client.labels)})
                continue
            server = self.ends.get(name + ".server")
            connections.append({
                "name": name, "connect": result, "local": local, "wire": [] if peer is None else [peer],
                "client": self.end_of(name),
                "server": "(never accepted)" if peer is None else self.end_of(name + ".server"),
                "delivered": [] if server is None else list(server.labels), "received": list(self.ends[name].labels)})
        entries = []
        insert_failed = 0
        drop = 0
        for key, real in self.namespaces:
            listing = run(["ip", "netns", "exec", real, "conntrack", "-L"])
            stats = run(["ip", "netns", "exec", real, "conntrack", "-S"])
            sys.stderr.write("conntrack -L in %s:\n%s" % (key or "the initial namespace", listing))
            for line in listing.split("\n"):
                entry = parse_entry(line, key)
                if entry is not None:
                    entries.append(entry)
            insert_failed += counter(stats, "insert_failed")
            drop += counter(stats, "drop")
        return {"connections": connections, "conntrack": entries, "insert_failed": insert_failed, "drop": drop}

    def close_all(self):
        for e in self.ends.values():
            if e.sock is not None:
                e.sock.close()
        for u in list(self.udp_clients.values()) + list(self.udp_servers.values()):
            if u.sock is not None:
                u.sock.close()
        for s in list(self.listeners.values()) + self.parked:
            s.close()


def run(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    if p.returncode != 0:
        raise OSError(0, "%s: exit %d: %s" % (" ".join(argv), p.returncode, p.stderr.strip()))
    return p.stdout


def parse_entry(line, netns):
    """A conntrack -L line as ctmodel compares it: 'NETNS: PROTO STATE ORIG | REPLY [ASSURED] [mark=N]'."""
    t = line.split()
    if len(t) < 4 or t[0] not in ("tcp", "udp"):
        return None
    fields = [x.split("=", 1) for x in t if "=" in x]

    def values(k):
        return [f[1] for f in fields if f[0] == k]

    src, dst, sport, dport = values("src"), values("dst"), values("sport"), values("dport")
    if min(len(src), len(dst), len(sport), len(dport)) < 2:
        return None
    state = t[3] if t[0] == "tcp" else ""
    # The connection mark, printed by ctmodel only when it is not 0 (CtObservation.Text).
    mark = values("mark")
    return "%s%s %s %s:%s->%s:%s | %s:%s->%s:%s%s%s" % (
        "" if netns is None else netns + ": ", t[0], state, src[0], sport[0], dst[0], dport[0],
        src[1], sport[1], dst[1], dport[1], " [ASSURED]" if "[ASSURED]" in t else "",
        " mark=" + mark[0] if mark and mark[0] != "0" else "")


def counter(text, name):
    total = 0
    for kv in text.split():
        p = kv.split("=", 1)
        if len(p) == 2 and p[0] == name and p[1].isdigit():
            total += int(p[1])
    return total


# --- the comparison: the model's prediction, with the ports it chose as variables -----------------------------
def pattern_parts(pattern):
    """'10.0.0.2:{A.local}->...' as literal text and variable names, alternating (literal first)."""
    parts = []
    rest = pattern
    while "{" in rest:
        i = rest.index("{")
        j = rest.index("}", i)
        parts.append(rest[:i])
        parts.append(rest[i + 1:j])
        rest = rest[j + 1:]
    parts.append(rest)
    return parts


def match(pattern, actual, bindings):
    """The bindings extended so that pattern reads actual (a variable stands for a port number), or None."""
    parts = pattern_parts(pattern)
    b = dict(bindings)
    pos = 0
    for i, part in enumerate(parts):
        if i % 2 == 0:
            if not actual.startswith(part, pos):
                return None
            pos += len(part)
            continue
        end = pos
        while end < len(actual) and actual[end].isdigit():
            end += 1
        if end == pos:
            return None
        value = actual[pos:end]
        if b.get(part, value) != value:
            return None
        b[part] = value
        pos = end
    return b if pos == len(actual) else None


def show(pattern, bindings):
    parts = pattern_parts(pattern)
    return "".join(p if i % 2 == 0 else bindings.get(p, "{%s}" % p) for i, p in enumerate(parts))


def wire_contains(wire, address, bindings):
    """Is address one of the model's wire addresses (IP:PORT patterns or IP:LOW-HIGH ranges)? The bindings, or None."""
    for w in wire:
        b = match(w, address, bindings)
        if b is not None:
            return b
        colon = w.rfind(":")
        dash = w.find("-", colon)
        if dash > 0 and "{" not in w:
            ip, port = address.rsplit(":", 1)
            if ip == w[:colon] and int(w[colon + 1:dash]) <= int(port) <= int(w[dash + 1:]):
                return bindings
    return None


def assign(expected, actual, bindings):
    """A one-to-one matching of expected entry patterns to the kernel's entries, binding variables: bindings or None."""
    if not expected:
        return bindings if not actual else None
    first, rest = expected[0], expected[1:]
    for i, a in enumerate(actual):
        b = match(first, a, bindings)
        if b is not None:
            found = assign(rest, actual[:i] + actual[i + 1:], b)
            if found is not None:
                return found
    return None


def compare(model, kernel, stopped):
    """The differences as (field, model, kernel), in ctmodel conform's words."""
    d = []
    b = {}
    kc = {c["name"]: c for c in kernel["connections"]}
    mc = {c["name"]: c for c in model["connections"]}
    # The variables first: each connection's own port, then the address its server saw.
    for m in model["connections"]:
        k = kc.get(m["name"])
        if k is not None:
            nb = match(m["local"], k["local"], b)
            b = b if nb is None else nb
    for m in model["connections"]:
        k = kc.get(m["name"])
        if k is not None and k["wire"]:
            nb = wire_contains(m["wire"], k["wire"][0], b)
            b = b if nb is None else nb
    for name in list(mc) + [n for n in kc if n not in mc]:
        m, k = mc.get(name), kc.get(name)
        if m is None or k is None:
            d.append((name, "no such connection" if m is None else "present", "no such connection" if k is None else "present"))
            continue
        if m["connect"] != k["connect"]:
            d.append((name + ".connect", m["connect"], k["connect"]))
        if match(m["local"], k["local"], b) is None:
            d.append((name + ".local", show(m["local"], b), k["local"]))
        if k["wire"] and wire_contains(m["wire"], k["wire"][0], b) is None:
            d.append((name + ".wire", " or ".join(show(w, b) for w in m["wire"]) or "nothing", k["wire"][0]))
        for field in ("client", "server"):
            if m[field] != k[field]:
                d.append((name + "." + field, m[field], k[field]))
        for field in ("delivered", "received"):
            if m[field] != k[field]:
                d.append((name + "." + field, "[" + ", ".join(m[field]) + "]", "[" + ", ".join(k[field]) + "]"))
    found = assign(model["conntrack"], kernel["conntrack"], b)
    if found is None:
        # No one-to-one reading: report the entries that match nothing on either side.
        unmatched_k = list(kernel["conntrack"])
        for e in model["conntrack"]:
            hit = next((a for a in unmatched_k if match(e, a, b) is not None), None)
            if hit is None:
                d.append(("conntrack", show(e, b), "(no such entry)"))
            else:
                unmatched_k.remove(hit)
        for a in unmatched_k:
            d.append(("conntrack", "(no such entry)", a))
        if len(d) == 0:
            d.append(("conntrack", "; ".join(show(e, b) for e in model["conntrack"]), "; ".join(kernel["conntrack"])))
    for field in ("insert_failed", "drop"):
        k = "0" if kernel[field] == 0 else "non-zero"
        if model[field] != k:
            d.append((field, model[field], "%s (%d)" % (k, kernel[field])))
    if model.get("stopped") != stopped:
        d.append(("stopped", model.get("stopped") or "ran every line", stopped or "ran every line"))
    return d


def main():
    driver = Driver(int(sys.argv[1]))
    stopped = None
    for line in sys.stdin:
        words = line.rstrip("\n").split(" ")
        verb = words[0]
        try:
            if verb == "netns":
                driver.netns(words[1], words[2])
            elif verb == "listen":
                driver.listen(words[1], words[2], words[3])
            elif verb == "connect":
                driver.connect(words[1], words[2], words[3], words[4], words[5])
            elif verb in ("send", "close", "abort") and driver.unusable(words[1]) is not None:
                stopped = "line %s" % words[-1]
                note("%s: no such end, or the application already closed it; the run stops here" % words[1])
                print("stop " + words[1], flush=True)
                continue
            elif verb == "send":
                driver.send(words[1], " ".join(words[2:-1]))
            elif verb in ("close", "abort"):
                driver.close(words[1], verb == "abort")
            elif verb == "settle":
                time.sleep(int(words[1]) / 1000.0)
                driver.drain()
            elif verb == "finish":
                with open(words[1]) as f:
                    model = json.load(f)
                time.sleep(int(words[2]) / 1000.0)
                driver.drain()
                kernel = driver.observe()
                # Any outcome the model allows will do; else the closest one is reported.
                outcomes = model["outcomes"]
                results = [compare(m, kernel, stopped) for m in outcomes]
                best = min(range(len(results)), key=lambda i: len(results[i]))
                d = results[best]
                note = outcomes[best].get("note") if not d else None
                with open(os.path.join(os.path.dirname(words[1]), "differences"), "w") as f:
                    if d and len(outcomes) > 1:
                        f.write("  (against outcome %d of %d, the closest)\n" % (best + 1, len(outcomes)))
                    for field, m, k in d:
                        f.write("  %s: model %s, kernel %s\n" % (field, m, k))
                driver.close_all()
                print("differences %d%s" % (len(d), "" if note is None else " " + note), flush=True)
                return
            else:
                raise ValueError("unknown helper command: " + line.strip())
            print("ok", flush=True)
        except (OSError, ValueError, KeyError, IndexError) as x:
            print("error %s: %s" % (type(x).__name__, x), flush=True)


if __name__ == "__main__":
    main()
