#!/usr/bin/env python3
"""A UDP flow of the host's own: bound to SRC:SPORT, connected to PEER:PPORT, sends
one datagram, then waits WAIT s for an answer. Prints "refused" when an ICMP error
ended the flow, "timeout" when nothing came, "reply" for an answer; writes "ready"
to READY once the datagram is out. usage: udp-victim.py SRC SPORT PEER PPORT WAIT READY"""
import socket
import sys

src, sport, peer, pport, wait, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, sport))
s.connect((peer, pport))
s.send(b"hello")
open(ready, "w").write("ready\n")
s.settimeout(wait)
try:
    s.recv(100)
    print("reply")
except ConnectionRefusedError:
    print("refused")
except socket.timeout:
    print("timeout")
