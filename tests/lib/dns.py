#!/usr/bin/env python3
"""The test world's DNS server: answers every A query with the internet host's address.
usage: dns.py ADDRESS (listens on ADDRESS:53/udp, in the inet namespace)"""
import socket
import struct
import sys

addr = sys.argv[1]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((addr, 53))
answer = socket.inet_aton(addr)
while True:
    q, peer = s.recvfrom(512)
    if len(q) < 12:
        continue
    qid, flags, qd = struct.unpack("!HHH", q[:6])
    # The question: labels up to the zero byte, then type and class.
    end = q.find(b"\0", 12)
    if qd != 1 or end < 0 or len(q) < end + 5:
        continue
    question = q[12:end + 5]
    qtype = struct.unpack("!H", q[end + 1:end + 3])[0]
    n = 1 if qtype == 1 else 0
    r = struct.pack("!HHHHHH", qid, 0x8180, 1, n, 0, 0) + question
    if n:
        r += struct.pack("!HHHLH", 0xC00C, 1, 1, 60, 4) + answer
    s.sendto(r, peer)
