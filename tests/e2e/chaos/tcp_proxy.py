#!/usr/bin/env python3
"""tcp_proxy.py PORTFILE TARGET_HOST TARGET_PORT: a TCP proxy that can cut its connections.

It listens on 127.0.0.1 on a free port, writes that port to PORTFILE (once it
listens, written to a temporary name and renamed, so a reader never sees half
of it), and copies bytes both ways between each client and TARGET. TLS passes
through untouched, so a client that trusts TARGET's certificate for
127.0.0.1 trusts the proxy too.

On SIGUSR1 it resets every open connection at once (RST, as a network
failure or a crashed load balancer would) and goes down: new connections
are reset as soon as they are accepted, until SIGUSR2 brings it up again.
Each cut is counted in PORTFILE.cuts, and PORTFILE.state says "down" or
"up" once that is in effect, so a test waits for them instead of
sleeping. SIGTERM ends it.

The end-to-end tests use it to break skeind's watches at a moment they
choose and to keep them broken while the store moves on: a watch that ends
makes an informer watch again from the last resourceVersion it saw, which
after an etcd compaction is gone (410), so the informer must relist.
"""

import os
import selectors
import signal
import socket
import struct
import sys

BUF = 65536


def main():
    portfile, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sel = selectors.DefaultSelector()
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(128)
    lsock.setblocking(False)
    sel.register(lsock, selectors.EVENT_READ, None)

    # Signals only set flags; the loop acts on them. A self-pipe wakes the
    # select so that a cut happens at once, not at the next packet.
    rpipe, wpipe = os.pipe()
    os.set_blocking(rpipe, False)
    os.set_blocking(wpipe, False)
    signal.set_wakeup_fd(wpipe)
    state = {"cut": False, "up": False, "down": False, "stop": False, "cuts": 0}
    signal.signal(signal.SIGUSR1, lambda *_: state.__setitem__("cut", True))
    signal.signal(signal.SIGUSR2, lambda *_: state.__setitem__("up", True))
    signal.signal(signal.SIGTERM, lambda *_: state.__setitem__("stop", True))
    sel.register(rpipe, selectors.EVENT_READ, "wake")

    tmp = portfile + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % lsock.getsockname()[1])
    os.rename(tmp, portfile)

    peers = {}  # socket -> the socket it forwards to

    def publish(name, text):
        with open(portfile + "." + name + ".tmp", "w") as f:
            f.write(text + "\n")
        os.rename(portfile + "." + name + ".tmp", portfile + "." + name)

    def reset(x):
        # SO_LINGER with a zero timeout: close() sends RST.
        try:
            x.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        x.close()

    def close_pair(s, hard):
        other = peers.pop(s, None)
        for x in (s, other):
            if x is None:
                continue
            peers.pop(x, None)
            try:
                sel.unregister(x)
            except (KeyError, ValueError):
                pass
            if hard:
                reset(x)
            else:
                x.close()

    publish("state", "up")
    while not state["stop"]:
        if state["cut"]:
            state["cut"] = False
            state["down"] = True
            n = 0
            for s in list(peers):
                if s in peers:
                    close_pair(s, True)
                    n += 1
            state["cuts"] += 1
            publish("cuts", str(state["cuts"]))
            publish("state", "down")
            print("cut %d connection pair(s), down" % n, flush=True)
        if state["up"]:
            state["up"] = False
            state["down"] = False
            publish("state", "up")
            print("up", flush=True)
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            if key.data == "wake":
                try:
                    os.read(rpipe, 512)
                except BlockingIOError:
                    pass
                continue
            if s is lsock:
                try:
                    client, _ = lsock.accept()
                except BlockingIOError:
                    continue
                if state["down"]:
                    reset(client)
                    continue
                try:
                    upstream = socket.create_connection((host, port), timeout=5)
                except OSError:
                    client.close()
                    continue
                for x in (client, upstream):
                    x.setblocking(False)
                    x.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sel.register(x, selectors.EVENT_READ, "conn")
                peers[client] = upstream
                peers[upstream] = client
                continue
            if s not in peers:
                continue
            try:
                data = s.recv(BUF)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                close_pair(s, False)
                continue
            try:
                # Blocking send keeps the proxy simple; the volumes are small.
                other = peers[s]
                other.setblocking(True)
                other.settimeout(10)
                other.sendall(data)
                other.setblocking(False)
            except OSError:
                close_pair(s, True)


if __name__ == "__main__":
    main()
