/**
 * The lab of one attack case (bench/attack.ts): a network namespace of its own holding the kernel end of a TAP
 * (`vn0`, 10.99.0.1/24 — the attacker and the legitimate clients) and `examples/tap.ts` on the other end (10.99.0.2/24,
 * gateway 10.99.0.1) under the chosen runtime, plus what the harness measures of that process:
 *
 * - RSS (`VmRSS` of `/proc/<pid>/status`, sampled every 100 ms for the peak) and CPU seconds (utime + stime of
 *   `/proc/<pid>/stat`, every thread of the process);
 * - the stack's own counters: `examples/tap.ts` prints them as one line `tap: stats {JSON}` on SIGUSR2;
 * - the kernel side's TAP counters (`ip -s link`): frames the kernel queued towards the stack (`tx.packets`), frames it
 *   dropped because the stack did not read them fast enough (`tx.dropped`), frames the stack wrote (`rx.packets`) —
 *   proof that an attack reached the stack even when the stack is too busy to report;
 * - legitimate probes from the same namespace: `ping`, `curl` of a small page and of 1 MB (SHA-256 checked), and a
 *   UDP echo.
 *
 * Everything a lab makes lives in its namespace (`vn-<pid>-<n>`, see tests/interop/_netns.ts): the TAP, the address,
 * an nftables table when asked for, every process (the stack, the attack tools, the probes). {@link Lab.close} kills
 * every process in the namespace by pid and deletes it; {@link closeAllLabs} does the same for every open lab (the
 * harness calls it on SIGINT/SIGTERM and on exit). Attack tools are also started under `timeout`, and the stack with
 * `--seconds`, so nothing outlives a killed harness by more than that bound.
 *
 * The topology is the one of tests/interop/example-tap.test.ts (a TAP made with `ip tuntap add` in the namespace,
 * the example attached to it), whose helpers (tests/interop/_netns.ts) this module reuses.
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { createHash } from "node:crypto"
import { readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { bodySha256 } from "../../examples/_http.ts"
import { makeNetns, type Netns, ROOT, run, type RunResult, tempDir } from "../../tests/interop/_netns.ts"

/** The kernel's (attacker's and clients') address on the TAP. */
export const KERNEL = "10.99.0.1"
/** The stack's address. */
export const OURS = "10.99.0.2"
/** The TAP's name inside the lab's namespace. */
export const DEV = "vn0"

/** A runtime the stack can run under. */
export type Runtime = "bun" | "deno"

/** The stack's counters as `examples/tap.ts` prints them on SIGUSR2. */
export interface StackCounters {
  /** The TAP device's counters (`rxFrames`, `txFrames`, …). */
  readonly device: Readonly<Record<string, number>>
  /** Every layer's counters (`ethernet`, `arp`, `ipv4`, `icmp`, `udp`, `tcp`), then by counter name. */
  readonly layers: Readonly<Record<string, Readonly<Record<string, number>>>>
  /** The HTTP example's counters (`connections`, `requests`, `bodyBytes`). */
  readonly http: Readonly<Record<string, number>>
}

/** The kernel side's counters of the TAP. */
export interface TapCounters {
  /** Frames the kernel queued towards the stack. */
  readonly toStack: number
  /** Frames the kernel dropped because the stack's queue (the TAP's) was full. */
  readonly toStackDropped: number
  /** Frames the stack wrote. */
  readonly fromStack: number
}

/** One sample of the stack process. */
export interface ProcSample {
  /** Resident set size, bytes. */
  readonly rss: number
  /** CPU seconds used so far (user + system, all threads). */
  readonly cpu: number
}

const CLK_TCK = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100

/** Reads RSS and CPU of a process, or undefined once it is gone. */
export const procSample = (pid: number): ProcSample | undefined => {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? "0") * 1024
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    // after "pid (comm) ": state is field 3 of proc(5), so utime (14) and stime (15) are at 11 and 12 here
    return { rss, cpu: (Number(fields[11]) + Number(fields[12])) / CLK_TCK }
  } catch {
    return undefined
  }
}

/** Every lab not closed yet. */
const open = new Set<Lab>()

/** One case's namespace, TAP and stack process. */
export interface Lab {
  /** The namespace (run tools with `ns.exec`). */
  readonly ns: Netns
  /** The runtime of the stack. */
  readonly runtime: Runtime
  /** The stack process's pid. */
  readonly pid: number
  /** The stack's MAC (from its banner). */
  readonly stackMac: string
  /** The kernel end's MAC. */
  readonly kernelMac: string
  /** A directory for this case's files (removed on close). */
  readonly dir: string
  /** Whether the stack process is still running. */
  readonly alive: () => boolean
  /** The stack's counters (asks with SIGUSR2; undefined when no answer came within `timeoutMs`). */
  readonly stats: (timeoutMs?: number) => Promise<StackCounters | undefined>
  /** The kernel side's TAP counters. */
  readonly tap: () => Promise<TapCounters>
  /** Runs a command in the namespace, bounded by `seconds` (SIGINT at the bound, SIGKILL 2 s later). */
  readonly exec: (args: ReadonlyArray<string>, seconds: number, input?: string) => Promise<RunResult>
  /** The stack's last lines of output (for error reports). */
  readonly tail: () => string
  /** Kills every process of the namespace and deletes it (idempotent). */
  readonly close: () => Promise<void>
}

/** What a lab is built with. */
export interface LabOptions {
  /** The stack's runtime. */
  readonly runtime: Runtime
  /** Drop the kernel's TCP RSTs to the stack (nftables), so that half-open connections stay half-open. */
  readonly dropKernelRsts?: boolean
  /** Extra kernel addresses on the TAP (e.g. a second source for the IP ID check). */
  readonly extraAddresses?: ReadonlyArray<string>
  /** The stack's own deadline, seconds (`--seconds`): a bound should the harness be killed. */
  readonly lifetime: number
}

/** The command line of `examples/tap.ts` under a runtime. */
const targetCommand = (runtime: Runtime, args: ReadonlyArray<string>): Array<string> => {
  const script = join(ROOT, "examples", "tap.ts")
  return runtime === "bun"
    ? [join(ROOT, "node_modules", ".bin", "bun"), script, ...args]
    : [join(ROOT, "node_modules", ".bin", "deno"), "run", "-A", "--config", join(ROOT, "deno.json"), script, ...args]
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Kills every process in a namespace (by pid, SIGKILL). */
const killAllIn = (ns: string): void => {
  const r = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" })
  for (const pid of (r.stdout ?? "").split(/\s+/).filter((s) => s !== "")) {
    try {
      process.kill(Number(pid), "SIGKILL")
    } catch { /* gone already */ }
  }
}

/** Builds a lab: namespace, TAP, stack started and answering ping. */
export const openLab = async (options: LabOptions): Promise<Lab> => {
  const ns = makeNetns()
  const dir = tempDir()
  let child: ChildProcess | undefined
  const lines: Array<string> = []
  let exited = false
  let closed = false
  const close = async (): Promise<void> => {
    if (closed) return
    closed = true
    open.delete(lab)
    if (child !== undefined && !exited) {
      child.kill("SIGTERM")
      for (let i = 0; i < 30 && !exited; i++) await sleep(100)
    }
    killAllIn(ns.name)
    for (
      let i = 0;
      i < 20 && spawnSync("ip", ["netns", "pids", ns.name], { encoding: "utf8" }).stdout.trim() !== "";
      i++
    ) {
      await sleep(50)
    }
    ns.del()
    rmSync(dir, { recursive: true, force: true })
  }
  const lab: Lab = {
    ns,
    runtime: options.runtime,
    pid: 0,
    stackMac: "",
    kernelMac: "",
    dir,
    alive: () => !exited,
    stats: async (timeoutMs = 3_000) => {
      if (exited) return undefined
      const from = lines.length
      try {
        process.kill(lab.pid, "SIGUSR2")
      } catch {
        return undefined
      }
      for (let waited = 0; waited < timeoutMs; waited += 25) {
        for (let i = from; i < lines.length; i++) {
          if (lines[i].startsWith("tap: stats ")) return JSON.parse(lines[i].slice("tap: stats ".length))
        }
        if (exited) return undefined
        await sleep(25)
      }
      return undefined
    },
    tap: async () => {
      const r = await run("ip", ["-n", ns.name, "-j", "-s", "link", "show", DEV], { timeoutMs: 5_000 })
      const s = (JSON.parse(r.stdout) as Array<{ stats64: { rx: { packets: number }; tx: Record<string, number> } }>)[0]
        .stats64
      return { toStack: s.tx.packets, toStackDropped: s.tx.dropped, fromStack: s.rx.packets }
    },
    exec: (args, seconds, input) =>
      ns.exec(["timeout", "-k", "2", "-s", "INT", String(seconds), ...args], {
        timeoutMs: (seconds + 4) * 1000,
        ...(input === undefined ? {} : { input }),
      }),
    tail: () => lines.slice(-5).join("\n"),
    close,
  }
  open.add(lab)
  try {
    ns.ip("tuntap", "add", "dev", DEV, "mode", "tap")
    ns.ip("addr", "add", `${KERNEL}/24`, "dev", DEV)
    for (const a of options.extraAddresses ?? []) ns.ip("addr", "add", `${a}/24`, "dev", DEV)
    ns.ip("link", "set", DEV, "up")
    if (options.dropKernelRsts === true) {
      ns.execSync("nft", "add table ip vnatk")
      ns.execSync("nft", "add chain ip vnatk out { type filter hook output priority 0 ; }")
      ns.execSync("nft", `add rule ip vnatk out ip daddr ${OURS} tcp flags & rst == rst drop`)
    }
    const [cmd, ...args] = targetCommand(options.runtime, [
      ...["--tap", DEV, "--cidr", `${OURS}/24`, "--gateway", KERNEL, "--seconds", String(options.lifetime)],
    ])
    // `ip netns exec` execs the command in place: the child's pid is the runtime's.
    const p = spawn("ip", ["netns", "exec", ns.name, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"] })
    child = p
    let buf = ""
    const onData = (d: string) => {
      buf += d
      let i: number
      while ((i = buf.indexOf("\n")) >= 0) {
        lines.push(buf.slice(0, i))
        buf = buf.slice(i + 1)
      }
    }
    p.stdout!.setEncoding("utf8")
    p.stderr!.setEncoding("utf8")
    p.stdout!.on("data", onData)
    p.stderr!.on("data", onData)
    p.on("close", () => {
      exited = true
    })
    ;(lab as { pid: number }).pid = p.pid!
    let banner: string | undefined
    for (let waited = 0; banner === undefined; waited += 50) {
      banner = lines.find((l) => l.startsWith(`tap: ${OURS}/24 on ${DEV}`))
      if (exited || waited > 60_000) throw new Error(`the stack did not start:\n${lines.join("\n")}`)
      await sleep(50)
    }
    ;(lab as { stackMac: string }).stackMac = /\(([0-9a-f:]{17}),/.exec(banner)![1]
    const link = JSON.parse(ns.ip("-j", "link", "show", "dev", DEV)) as Array<{ address: string }>
    ;(lab as { kernelMac: string }).kernelMac = link[0].address.toLowerCase()
    // warm-up: ARP both ways, the JIT, the HTTP server's first request
    for (let i = 0; i < 50; i++) {
      const r = await ns.exec(["ping", "-c", "1", "-W", "0.2", "-n", OURS], { timeoutMs: 3_000 })
      if (r.code === 0) break
      if (i === 49) throw new Error(`the stack does not answer ping:\n${lines.join("\n")}`)
    }
    await ns.exec(["curl", "-s", "-o", "/dev/null", "--max-time", "3", `http://${OURS}/`], { timeoutMs: 5_000 })
    return lab
  } catch (e) {
    await close()
    throw e
  }
}

/** Closes every lab still open (interrupt and exit paths). */
export const closeAllLabs = async (): Promise<void> => {
  for (const lab of [...open]) await lab.close()
}

/** Synchronous last resort (process `exit`): kills the processes of every open lab and deletes its namespace. */
export const closeAllLabsSync = (): void => {
  for (const lab of [...open]) {
    killAllIn(lab.ns.name)
    lab.ns.del()
    rmSync(lab.dir, { recursive: true, force: true })
  }
  open.clear()
}

// ---- sampling ---------------------------------------------------------------------------------------------------

/** A running RSS/CPU sampler of the stack process. */
export interface Sampler {
  /** The largest RSS seen so far, bytes. */
  readonly peak: () => number
  /** Stops sampling. */
  readonly stop: () => void
}

/** Samples the process every `intervalMs` (default 100 ms) for its peak RSS. */
export const sampler = (pid: number, intervalMs = 100): Sampler => {
  let peak = procSample(pid)?.rss ?? 0
  const timer = setInterval(() => {
    const s = procSample(pid)
    if (s !== undefined && s.rss > peak) peak = s.rss
  }, intervalMs)
  return { peak: () => peak, stop: () => clearInterval(timer) }
}

// ---- legitimate probes ------------------------------------------------------------------------------------------

/** One curl: HTTP status (0 when none) and seconds, or curl's exit code on failure. */
export interface CurlResult {
  /** Whether it returned 200 (and, for a download, the right body). */
  readonly ok: boolean
  /** Seconds curl took (its own `time_total`, or the bound when it failed). */
  readonly seconds: number
  /** `200`, or `curl exit N` (7 refused, 28 timed out, 52 empty reply, 56 reset). */
  readonly status: string
}

/** Fetches `path` from the stack with curl, bounded by `maxSeconds`. */
export const curl = async (lab: Lab, path: string, maxSeconds: number): Promise<CurlResult> => {
  const r = await lab.ns.exec([
    ...["curl", "-s", "-o", "/dev/null", "--max-time", String(maxSeconds)],
    ...["-w", "%{http_code} %{time_total}", `http://${OURS}${path}`],
  ], { timeoutMs: (maxSeconds + 3) * 1000 })
  const [code, time] = r.stdout.trim().split(" ")
  if (r.code !== 0) {
    return { ok: false, seconds: Number(time ?? maxSeconds) || maxSeconds, status: `curl exit ${r.code}` }
  }
  return { ok: code === "200", seconds: Number(time), status: code }
}

/** Downloads `/bytes/N` and checks its SHA-256 against the example's body. */
export const download = async (lab: Lab, bytes: number, maxSeconds: number): Promise<CurlResult> => {
  const file = join(lab.dir, "body")
  const r = await lab.ns.exec([
    ...["curl", "-s", "-o", file, "--max-time", String(maxSeconds)],
    ...["-w", "%{http_code} %{time_total}", `http://${OURS}/bytes/${bytes}`],
  ], { timeoutMs: (maxSeconds + 3) * 1000 })
  const [code, time] = r.stdout.trim().split(" ")
  if (r.code !== 0) return { ok: false, seconds: maxSeconds, status: `curl exit ${r.code}` }
  let sha = ""
  try {
    sha = createHash("sha256").update(readFileSync(file)).digest("hex")
  } catch { /* no body */ }
  rmSync(file, { force: true })
  const ok = code === "200" && sha === bodySha256(bytes)
  return { ok, seconds: Number(time), status: ok ? code : `${code} bad body` }
}

/** Pings the stack `count` times (200 ms apart, 1 s wait): replies received. */
export const ping = async (lab: Lab, count: number): Promise<number> => {
  const r = await lab.ns.exec(["ping", "-n", "-q", "-c", String(count), "-i", "0.2", "-W", "1", OURS], {
    timeoutMs: (count + 3) * 1000,
  })
  return Number(/(\d+) received/.exec(r.stdout)?.[1] ?? "0")
}

/** One UDP echo to port 7 (2 s wait): whether the same bytes came back. */
export const udpEcho = async (lab: Lab): Promise<boolean> => {
  const r = await lab.ns.exec([
    "python3",
    "-c",
    `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(b"legit-echo", ("${OURS}", 7))
try:
    print("ok" if s.recv(100) == b"legit-echo" else "bad")
except OSError:
    print("timeout")`,
  ], { timeoutMs: 6_000 })
  return r.stdout.trim() === "ok"
}

/** What the legitimate clients saw while the attack ran. */
export interface DuringProbes {
  /** Pings answered (1 s wait each) / sent. */
  readonly pingOk: number
  readonly pingTotal: number
  /** Small curls answered with 200 (2 s bound each) / tried. */
  readonly curlOk: number
  readonly curlTotal: number
  /** The slowest successful curl, seconds (0 when none succeeded). */
  readonly curlWorst: number
  /** How the failed curls failed, e.g. `{ "curl exit 28": 3 }`. */
  readonly failures: Readonly<Record<string, number>>
}

/** A running prober: one ping and one small curl, in parallel, every `intervalMs`, until stopped. */
export const prober = (lab: Lab, intervalMs = 1_000): { readonly stop: () => Promise<DuringProbes> } => {
  let stopping = false
  const acc = {
    pingOk: 0,
    pingTotal: 0,
    curlOk: 0,
    curlTotal: 0,
    curlWorst: 0,
    failures: {} as Record<string, number>,
  }
  const loop = (async () => {
    while (!stopping) {
      const t0 = Date.now()
      const [p, c] = await Promise.all([
        lab.ns.exec(["ping", "-n", "-c", "1", "-W", "1", OURS], { timeoutMs: 4_000 }),
        curl(lab, "/", 2),
      ])
      acc.pingTotal++
      if (p.code === 0) acc.pingOk++
      acc.curlTotal++
      if (c.ok) {
        acc.curlOk++
        acc.curlWorst = Math.max(acc.curlWorst, c.seconds)
      } else {
        acc.failures[c.status] = (acc.failures[c.status] ?? 0) + 1
      }
      const rest = intervalMs - (Date.now() - t0)
      if (rest > 0 && !stopping) await sleep(rest)
    }
  })()
  return {
    stop: async () => {
      stopping = true
      await loop
      return acc
    },
  }
}

/** What the legitimate clients saw after the attack (and the settle time). */
export interface AfterProbes {
  /** Replies to 3 pings. */
  readonly ping: number
  /** A small curl (3 s bound). */
  readonly curl: CurlResult
  /** A 1 MB download (10 s bound), body checked. */
  readonly mb: CurlResult
  /** A UDP echo. */
  readonly udp: boolean
}

/** Runs the after-attack probes, one after another. */
export const afterProbes = async (lab: Lab): Promise<AfterProbes> => {
  const pings = await ping(lab, 3)
  const small = await curl(lab, "/", 3)
  // no 1 MB download when the small page failed: it would only wait out its bound
  const mb = small.ok ? await download(lab, 1_000_000, 10) : { ok: false, seconds: 0, status: "skipped" }
  const udp = await udpEcho(lab)
  return { ping: pings, curl: small, mb, udp }
}

/**
 * After a failed after-probe: seconds until `curl /` (1 s bound, once a second) is served again, counted from
 * `since` (ms, the end of the attack); undefined when not within `boundSeconds` of `since`.
 */
export const recovery = async (lab: Lab, since: number, boundSeconds: number): Promise<number | undefined> => {
  while (Date.now() - since < boundSeconds * 1000 && lab.alive()) {
    const t = Date.now()
    if ((await curl(lab, "/", 1)).ok) return (t - since) / 1000
    const rest = 1_000 - (Date.now() - t)
    if (rest > 0) await sleep(rest)
  }
  return undefined
}

/** The stack's RSS/CPU now, or zeros when the process is gone. */
export const sampleNow = (lab: Lab): ProcSample => procSample(lab.pid) ?? { rss: 0, cpu: 0 }

export { sleep }
