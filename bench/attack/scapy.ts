/**
 * The packet-crafting half of the attacker (bench/attack.ts): Python snippets run with Debian's scapy
 * (`/usr/bin/python3`, package python3-scapy) inside a lab's namespace, each printing one JSON line last.
 *
 * Every snippet gets a prelude with the lab's addresses and MACs and two helpers:
 * - `exchange(frames, wait)`: starts a sniffer on the TAP for frames FROM the stack (`ether src` = the stack's MAC),
 *   sends the frames at layer 2 (`sendp`, so spoofed sources leave exactly as written), waits, and returns what the
 *   stack sent back — the observation does not depend on the kernel accepting the stack's answers;
 * - `rss()`: the stack process's RSS in bytes (the namespace shares the pid namespace), for cases that measure memory
 *   between phases of their own.
 *
 * @module
 */
import type { RunResult } from "../../tests/interop/_netns.ts"
import type { Lab } from "./lab.ts"
import { DEV, KERNEL, OURS } from "./lab.ts"

/** The Python prelude: imports, the lab's addresses, `eth()`, `exchange()`, `rss()`, `out()`. */
const prelude = (lab: Lab): string =>
  `import json, random, re, subprocess, sys, threading, time
from scapy.all import *
conf.verb = 0
IFACE = "${DEV}"; OURS = "${OURS}"; KERNEL = "${KERNEL}"
SMAC = "${lab.stackMac}"; KMAC = "${lab.kernelMac}"; PID = ${lab.pid}
def out(**kw): print(json.dumps(kw)); sys.stdout.flush()
def eth(src=KMAC, dst=SMAC): return Ether(src=src, dst=dst)
def rss():
    with open(f"/proc/{PID}/status") as f:
        return int(re.search(r"VmRSS:\\s+(\\d+) kB", f.read()).group(1)) * 1024
def exchange(frames, wait=1.5, bpf=None):
    ready = threading.Event()
    sn = AsyncSniffer(iface=IFACE, filter=bpf or f"ether src {SMAC}", store=True, started_callback=ready.set)
    sn.start(); ready.wait(5); time.sleep(0.1)
    sendp(frames, iface=IFACE)
    time.sleep(wait)
    sn.stop()
    return list(sn.results or [])
`

/** The last line of a Python run's output as JSON; throws with its stderr's last lines when there is none. */
const lastJson = (r: RunResult, what: string): Record<string, unknown> => {
  const last = r.stdout.trim().split("\n").pop() ?? ""
  if (!last.startsWith("{")) {
    throw new Error(`${what} failed (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-3).join(" | ")}`)
  }
  return JSON.parse(last) as Record<string, unknown>
}

/** Runs a snippet (after the prelude) in the lab's namespace, bounded by `seconds`; returns its last JSON line. */
export const scapy = async (lab: Lab, body: string, seconds: number): Promise<Record<string, unknown>> =>
  lastJson(await lab.exec(["/usr/bin/python3", "-c", `${prelude(lab)}\n${body}`], seconds), "scapy snippet")

/** Runs plain Python (kernel sockets, no scapy) in the lab's namespace; returns its last JSON line. */
export const python = async (lab: Lab, code: string, seconds: number): Promise<Record<string, unknown>> =>
  lastJson(await lab.exec(["/usr/bin/python3", "-c", code], seconds), "python")

/** Opens `n` TCP connections from the kernel to port 80 (Python prelude for stalled downloads and slowloris). */
export const PY_CONNECT = `import json, resource, socket, sys, time
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (_hard if _hard != resource.RLIM_INFINITY else 65536, _hard))
def connect_many(n, rcvbuf=None, host="${OURS}", port=80, timeout=3):
    socks = []
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf: s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        try:
            s.connect((host, port)); socks.append(s)
        except OSError:
            s.close()
    return socks
def closed_by_peer(s):
    """Reads what is there without waiting: True on end of stream or reset, False while the connection is open."""
    s.setblocking(False)
    try:
        while True:
            if s.recv(65536) == b"": return True
    except BlockingIOError:
        return False
    except OSError:
        return True
def out(**kw): print(json.dumps(kw)); sys.stdout.flush()
`
