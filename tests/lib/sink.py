#!/usr/bin/env python3
"""The test world's upload sink (bench): reads what a client sends, up to 10 MiB per
connection, answers with the byte count and closes, so a plain nc client ends.
usage: sink.py ADDRESS (listens on ADDRESS:5001/tcp, in the inet namespace)"""
import socket
import sys

s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5001))
s.listen(16)
while True:
    c, _ = s.accept()
    n = 0
    while n < 10 * 1024 * 1024:
        b = c.recv(65536)
        if not b:
            break
        n += len(b)
    try:
        c.sendall(b"%d\n" % n)
    except OSError:
        pass
    c.close()
