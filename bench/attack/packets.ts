/**
 * The packet-level cases of bench/attack.ts (issue 15's single-packet findings): a land SYN, martian UDP to the echo
 * service, SYN+FIN, a SYN with a malformed option, an unfinished LSRR, an echo request with code ≠ 0, ARP poisoning
 * and an ARP flood, IPv4 ID predictability, and a window probe past a 100-byte window. Each crafts its frames with
 * scapy (bench/attack/scapy.ts) and looks at what the stack sent back, with a control frame that must be answered
 * where an unanswered frame is the finding.
 *
 * @module
 */
import { type AttackCase, cpuDuring, delta, MiB, mib, observe, segmentsOf, status } from "./case.ts"
import { scapy } from "./scapy.ts"

/** The land attack: one SYN from our own address and port to itself. */
export const landCase: AttackCase = {
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

export const udpSelfCase: AttackCase = {
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

export const arpPoisonCase: AttackCase = {
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

export const arpFloodCase: AttackCase = {
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

export const ipIdCase: AttackCase = {
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

export const probeCase: AttackCase = {
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

export const icmpCodeCase = craftedCase(
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

export const synFinCase = craftedCase(
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

export const synBadOptCase = craftedCase(
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

export const lsrrCase = craftedCase(
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
