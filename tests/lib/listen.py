#!/usr/bin/env python3
"""A target that records who reached it: listens on ADDRESS:PORT for TCP and UDP
and appends one line per connection or datagram ("tcp PEER" or "udp PEER") to LOG.
A TCP caller gets "hello" back. Used to prove what a job can and cannot reach.
usage: listen.py ADDRESS PORT LOG"""
import selectors
import socket
import sys

addr, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
t.bind((addr, port))
t.listen(16)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((addr, port))
sel = selectors.DefaultSelector()
sel.register(t, selectors.EVENT_READ)
sel.register(u, selectors.EVENT_READ)
open(log, "a").close()
while True:
    for key, _ in sel.select():
        if key.fileobj is t:
            c, peer = t.accept()
            line = "tcp %s" % peer[0]
            try:
                c.sendall(b"hello\n")
            except OSError:
                pass
            c.close()
        else:
            _, peer = u.recvfrom(65536)
            line = "udp %s" % peer[0]
        with open(log, "a") as f:
            f.write(line + "\n")
