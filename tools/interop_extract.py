#!/usr/bin/env python3
"""Turn a pcap(ng) of RFC 1006 conversations into test vectors.

    tools/interop_extract.py CAPTURE OUTDIR PREFIX

Writes one OUTDIR/PREFIX-s<stream>.txt per TCP connection (every
connection is written; the caller keeps the ones worth keeping and renames
them, as test/interop/README.md lists).  Format, one TPKT per line, in the order the
TPKTs completed on the wire:

    # comment lines (source, connection, frame numbers)
    < HEX      initiator -> responder
    > HEX      responder -> initiator

This is the text2pcap input format used by test/support_wire.c, so a vector
can be turned back into a pcap for tshark.  Run by hand when a new capture
is added; the tests read only the .txt files.
"""
import subprocess, sys, os

cap, outdir, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
out = subprocess.run(["tshark", "-r", cap, "-T", "fields", "-e", "frame.number",
                      "-e", "tcp.stream", "-e", "tcp.srcport", "-e", "tcp.dstport",
                      "-e", "tcp.flags.syn", "-e", "tcp.flags.ack", "-e", "tcp.payload"],
                     capture_output=True, text=True, check=True).stdout
streams = {}
for line in out.splitlines():
    f = line.split("\t")
    if len(f) < 7:
        continue
    num, st, sp, dp, syn, ack, pl = f
    s = streams.setdefault(st, {"init": None, "buf": {0: b"", 1: b""}, "recs": [], "frames": []})
    if syn == "1" and ack == "0":
        s["init"] = sp
    if not pl:
        continue
    if s["init"] is None:
        continue
    d = 1 if sp == s["init"] else 0
    s["buf"][d] += bytes.fromhex(pl.replace(":", ""))
    b = s["buf"][d]
    while len(b) >= 4 and len(b) >= ((b[2] << 8) | b[3]):
        n = (b[2] << 8) | b[3]
        s["recs"].append((d, b[:n], num))
        b = b[n:]
    s["buf"][d] = b
    s.setdefault("ports", (s["init"], dp if d else sp))
os.makedirs(outdir, exist_ok=True)
k = 0
for st in sorted(streams, key=int):
    s = streams[st]
    if not s["recs"]:
        continue
    k += 1
    path = os.path.join(outdir, "%s-s%s.txt" % (prefix, st))
    with open(path, "w") as fp:
        fp.write("# from %s, TCP stream %s (initiator port %s)\n" % (os.path.basename(cap), st, s["init"]))
        for d, r, num in s["recs"]:
            fp.write("# frame %s\n%s %s\n" % (num, "<" if d else ">", r.hex()))
print(k, "connections")
