/**
 * The harness of the kernel-interop tests: prerequisites, per-run network namespaces, kernel-side commands,
 * tshark captures and their validation, nstat counters, and child processes of the runtime running the tests.
 *
 * Rules every test keeps (and this harness enforces where it can):
 * - Every kernel address of the tests (10.99.x.x) lives inside a namespace made here; none is ever put in the root
 *   namespace, and traffic goes nowhere but inside these namespaces (or to 127.0.0.1 for the no-root VXLAN test).
 * - Namespaces get per-run names `vn-<pid>-<n>` and are deleted in `finally` blocks, in `after()` hooks
 *   ({@link cleanupAll}) and, as a last resort, when the process exits — also when a test fails.
 * - Tests that need root, iproute2, `/dev/net/tun` or a tool skip with a reason ({@link needs}) instead of failing.
 * - Kernel commands that talk to a stack living in this process run asynchronously ({@link run}): a synchronous
 *   spawn would block the event loop and with it the stack that has to answer.
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/** The runtime running the tests. */
export const RUNTIME: "bun" | "deno" | "node" = (globalThis as { Bun?: unknown }).Bun !== undefined
  ? "bun"
  : (globalThis as { Deno?: unknown }).Deno !== undefined
  ? "deno"
  : "node"

/** The repository root (tests/interop/../..). */
export const ROOT: string = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..")

/** True when a command is on the PATH. */
export const has = (tool: string): boolean =>
  spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0

const isRoot = (): boolean => typeof process.getuid === "function" && process.getuid() === 0

let netnsWorks: boolean | undefined = undefined
let counter = 0
const live = new Set<string>()

/** Whether this process may create network namespaces (probed once, with a namespace it deletes at once). */
const canMakeNetns = (): boolean => {
  if (netnsWorks !== undefined) return netnsWorks
  const name = `vn-${process.pid}-probe`
  netnsWorks = spawnSync("ip", ["netns", "add", name], { stdio: "ignore" }).status === 0
  if (netnsWorks) spawnSync("ip", ["netns", "del", name], { stdio: "ignore" })
  return netnsWorks
}

/** What a kernel test needs. */
export interface Needs {
  /** Tools that must be on the PATH besides `ip` (e.g. `tshark`, `ping`, `nstat`, `python3`, `ethtool`). */
  readonly tools?: ReadonlyArray<string>
  /** `/dev/net/tun` and an FFI runtime (Bun, or Deno with FFI allowed). */
  readonly tap?: boolean
  /** Root and network namespaces (default true). */
  readonly netns?: boolean
}

/**
 * The reason to skip a test, or `false` when everything it needs is there. The reason names what is missing, e.g.
 * `needs root and iproute2 (running as uid 1000)`.
 */
export const needs = (n: Needs): string | false => {
  const missing: Array<string> = []
  if (n.netns !== false) {
    if (!isRoot()) {
      return `needs root and iproute2 (running as uid ${typeof process.getuid === "function" ? process.getuid() : "?"})`
    }
    if (!has("ip")) return "needs root and iproute2 (no `ip` on the PATH: apt-get install iproute2)"
    if (!canMakeNetns()) return "needs root and iproute2 (`ip netns add` failed: no CAP_SYS_ADMIN in this container?)"
  }
  for (const t of n.tools ?? []) if (!has(t)) missing.push(t)
  if (missing.length > 0) {
    return `needs ${missing.join(", ")} (apt-get install iproute2 iputils-ping tshark ethtool python3)`
  }
  if (n.tap === true) {
    if (!existsSync("/dev/net/tun")) return "needs /dev/net/tun (the TUN/TAP driver)"
    if (RUNTIME === "node") return "needs FFI for TAP: run under Bun or Deno"
    if (RUNTIME === "deno") {
      const D = (globalThis as { Deno?: { permissions?: { querySync?: (d: { name: string }) => { state: string } } } })
        .Deno
      const state = D?.permissions?.querySync?.({ name: "ffi" }).state
      if (state !== undefined && state !== "granted") return "needs FFI: run deno test with -A (or --allow-ffi)"
    }
  }
  return false
}

/** Prints a skip reason once per file, so the log says why (bun and deno do not print node:test skip reasons). */
export const announceSkip = (file: string, reason: string | false): void => {
  if (reason !== false) console.log(`[${file}] skipped: ${reason}`)
}

// ---- commands -------------------------------------------------------------------------------------------------------

/** The result of a command. */
export interface RunResult {
  /** Exit code (null when killed by a signal). */
  readonly code: number | null
  /** Standard output. */
  readonly stdout: string
  /** Standard error. */
  readonly stderr: string
}

/** Runs a command synchronously and throws with its stderr when it fails; for setup steps only (see module docs). */
export const sh = (cmd: string, args: ReadonlyArray<string>): string => {
  const r = spawnSync(cmd, args, { encoding: "utf8" })
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr || r.error?.message || ""}`.trim())
  }
  return r.stdout
}

/** Runs a command asynchronously (the event loop stays free), killing it after `timeoutMs` (default 30 s). */
export const run = (
  cmd: string,
  args: ReadonlyArray<string>,
  options?: { readonly timeoutMs?: number; readonly input?: string | Uint8Array },
): Promise<RunResult> =>
  new Promise((resolve) => {
    const p = spawn(cmd, [...args], { stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    p.stdout!.setEncoding("utf8")
    p.stderr!.setEncoding("utf8")
    p.stdout!.on("data", (d: string) => {
      stdout += d
    })
    p.stderr!.on("data", (d: string) => {
      stderr += d
    })
    const timer = setTimeout(() => p.kill("SIGKILL"), options?.timeoutMs ?? 30_000)
    p.on("error", (e) => {
      stderr += String(e)
    })
    p.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    if (options?.input !== undefined) p.stdin!.end(options.input)
    else p.stdin!.end()
  })

// ---- namespaces -----------------------------------------------------------------------------------------------------

/** A network namespace made for this run. */
export interface Netns {
  /** Its name, `vn-<pid>-<n>`. */
  readonly name: string
  /** Runs `ip -n NAME …` synchronously (setup). */
  readonly ip: (...args: ReadonlyArray<string>) => string
  /** Runs a command inside the namespace synchronously (setup). */
  readonly execSync: (cmd: string, ...args: ReadonlyArray<string>) => string
  /** Runs a command inside the namespace asynchronously. */
  readonly exec: (
    args: ReadonlyArray<string>,
    options?: { readonly timeoutMs?: number; readonly input?: string | Uint8Array },
  ) => Promise<RunResult>
  /** Deletes the namespace (idempotent). */
  readonly del: () => void
}

/** Deletes one namespace of this run, ignoring errors. */
const deleteNetns = (name: string): void => {
  spawnSync("ip", ["netns", "del", name], { stdio: "ignore" })
  live.delete(name)
}

/** Deletes every namespace this process made and has not deleted yet. */
export const cleanupAll = (): void => {
  for (const name of [...live]) deleteNetns(name)
}

let exitHook = false

/**
 * Makes a fresh namespace `vn-<pid>-<n>` with `lo` up, IPv6 off (no router solicitations, MLD or DAD in the
 * captures) and broadcast pings answered (see {@link broadcastPing}). It is deleted by `del`, by {@link cleanupAll}, or when the process exits.
 */
export const makeNetns = (): Netns => {
  if (!exitHook) {
    exitHook = true
    process.on("exit", cleanupAll)
  }
  const name = `vn-${process.pid}-${counter++}`
  sh("ip", ["netns", "add", name])
  live.add(name)
  try {
    sh("ip", ["-n", name, "link", "set", "lo", "up"])
    sh("ip", [
      "netns",
      "exec",
      name,
      "sysctl",
      "-qw",
      "net.ipv6.conf.all.disable_ipv6=1",
      "net.ipv6.conf.default.disable_ipv6=1",
      // The capture probe is a broadcast ping, which the kernel also loops back to itself: answering it (rather
      // than the default of ignoring it) keeps IcmpInErrors at zero.
      "net.ipv4.icmp_echo_ignore_broadcasts=0",
    ])
  } catch (e) {
    deleteNetns(name)
    throw e
  }
  return {
    name,
    ip: (...args) => sh("ip", ["-n", name, ...args]),
    execSync: (cmd, ...args) => sh("ip", ["netns", "exec", name, cmd, ...args]),
    exec: (args, options) => run("ip", ["netns", "exec", name, ...args], options),
    del: () => deleteNetns(name),
  }
}

/** A short interface name unique to this run (at most 15 bytes): `<prefix><pid mod 1e5>x<n>`. */
export const ifname = (prefix: string): string => `${prefix}${process.pid % 100000}x${counter++}`.slice(0, 15)

/** The MAC address of an interface inside a namespace, lower case. */
export const linkMac = (ns: Netns, dev: string): string => {
  const info = JSON.parse(ns.ip("-j", "link", "show", "dev", dev)) as Array<{ address: string }>
  return info[0].address.toLowerCase()
}

/** The kernel's neighbour entry (MAC) for `address` in a namespace, or undefined. */
export const neighbour = (ns: Netns, address: string): string | undefined => {
  const entries = JSON.parse(ns.ip("-j", "neigh", "show", address)) as Array<{ lladdr?: string }>
  return entries[0]?.lladdr?.toLowerCase()
}

// ---- VXLAN topology -------------------------------------------------------------------------------------------------

/**
 * The kernel side of the VXLAN tests (linux-interop.md §2): a veth between namespace `k` (10.99.3.1, vk0) and `s`
 * (10.99.3.2, vs0), and in `k` a vxlan device vx0 (VNI 42, UDP 4789, to 10.99.3.2) with tx offload off — otherwise
 * the kernel leaves inner checksums unfinished (see Vxlan.ts) — carrying `kernelCidr`. Our stack runs in `s`.
 */
export const vxlanKernelSide = (k: Netns, s: Netns, kernelCidr: string): void => {
  sh("ip", ["link", "add", "vk0", "netns", k.name, "type", "veth", "peer", "name", "vs0", "netns", s.name])
  k.ip("addr", "add", "10.99.3.1/24", "dev", "vk0")
  k.ip("link", "set", "vk0", "up")
  s.ip("addr", "add", "10.99.3.2/24", "dev", "vs0")
  s.ip("link", "set", "vs0", "up")
  k.ip(
    ...["link", "add", "vx0", "type", "vxlan", "id", "42", "local", "10.99.3.1", "remote", "10.99.3.2"],
    ...["dstport", "4789", "dev", "vk0"],
  )
  k.execSync("ethtool", "-K", "vx0", "tx", "off")
  k.ip("addr", "add", kernelCidr, "dev", "vx0")
  k.ip("link", "set", "vx0", "up")
}

// ---- nstat ----------------------------------------------------------------------------------------------------------

/** The error counters that must stay zero in a kernel namespace. */
export const ERROR_COUNTERS: ReadonlyArray<string> = [
  "IpInHdrErrors",
  "IpInAddrErrors",
  "IcmpInCsumErrors",
  "UdpInCsumErrors",
  "TcpInCsumErrors",
  "TcpInErrs",
  "UdpInErrors",
  "IcmpInErrors",
]

/** Absolute values of kernel SNMP counters in a namespace (`nstat -asz`: no history read or written). */
export const nstat = async (ns: Netns, counters: ReadonlyArray<string>): Promise<Record<string, number>> => {
  const r = await ns.exec(["nstat", "-asz", ...counters])
  if (r.code !== 0) throw new Error(`nstat failed: ${r.stderr}`)
  const out: Record<string, number> = {}
  for (const line of r.stdout.split("\n")) {
    const m = /^(\w+)\s+(\d+)/.exec(line)
    if (m !== null) out[m[1]] = Number(m[2])
  }
  for (const c of counters) out[c] ??= 0
  return out
}

// ---- tshark ---------------------------------------------------------------------------------------------------------

/**
 * tshark preferences that turn on the IP/TCP/UDP checksum checks (ICMP is always checked), and decode iperf3's port
 * 5201 as plain data: its payload is arbitrary bytes, which heuristic dissectors (Thrift, seen) otherwise take for
 * their protocol and flag as malformed.
 */
export const TSHARK_CHECKS: ReadonlyArray<string> = [
  "-o",
  "ip.check_checksum:TRUE",
  "-o",
  "tcp.check_checksum:TRUE",
  "-o",
  "udp.check_checksum:TRUE",
  "-d",
  "tcp.port==5201,data",
]

/**
 * The display filter of bad frames: a bad checksum anywhere, a malformed packet, or an expert error — except
 * tshark's "TCP Checksum 0xffff instead of 0x0000 (see RFC 1624)" (`tcp.checksum.ffff`): Linux finishes a
 * checksum in software (`skb_checksum_help`, as for every segment it sends into a TAP or a vxlan with tx offload off)
 * by writing 0xffff where the sum gives 0x0000 (`CSUM_MANGLED_0`), about one segment in 65536. tshark marks that
 * Bad and an expert error, yet it verifies (RFC 1071 sum 0xffff): not ours to fail on. Our encoder always writes
 * the canonical 0x0000.
 */
export const BAD_FRAME_FILTER: string =
  "ip.checksum.status==0 || icmp.checksum.status==0 || (tcp.checksum.status==0 && !tcp.checksum.ffff) || " +
  "udp.checksum.status==0 || _ws.malformed || (_ws.expert.severity >= error && !tcp.checksum.ffff)"

/**
 * A BPF capture filter that keeps every frame except bulk TCP on `port`, of which it keeps a sample: all SYN, FIN and
 * RST segments, data segments (frames over 200 bytes) whose sequence number's low 16 bits are below 2048, and small
 * segments whose acknowledgement number's low 16 bits are (about 1 in 32 each, spread over the whole run). For
 * gigabit iperf3 runs, whose full capture tshark could not validate in the time of a test.
 */
export const SAMPLE_TCP_PORT = (port: number): string =>
  `not tcp port ${port} or tcp[13] & 7 != 0 or (greater 200 and tcp[6:2] < 2048) or (less 201 and tcp[10:2] < 2048)`

/** A temporary directory for captures, removed by {@link removeTempDir}. */
export const tempDir = (): string => mkdtempSync(join(tmpdir(), "vnetif-interop-"))

/** Removes a directory made by {@link tempDir}. */
export const removeTempDir = (dir: string): void => rmSync(dir, { recursive: true, force: true })

/** A running capture. */
export interface Capture {
  /** The pcap file. */
  readonly file: string
  /** Fences the end with probes, stops the capture (SIGINT, then SIGKILL after 5 s) and waits for the file. */
  readonly stop: () => Promise<void>
}

/**
 * Starts `tshark -q -i DEV -w FILE` inside a namespace and waits until it really captures; `stop` waits until it has
 * written everything. tshark prints "Capturing on" some hundreds of milliseconds before frames reach the file, and on
 * SIGINT it loses the frames of the last few hundred milliseconds (both seen here: an ARP exchange missing at the
 * start, two pings at the end). So both ends are fenced with probes: `probe(marker)` sends one recognisable frame (a
 * broadcast ping of `marker` data bytes, see {@link broadcastPing}), repeated until that frame is in the file.
 * `captureFilter` (a BPF expression, e.g. {@link SAMPLE_TCP_PORT}) must let those probes through.
 */
export const startCapture = async (
  ns: Netns,
  dev: string,
  file: string,
  probe: (marker: number) => Promise<unknown>,
  captureFilter?: string,
): Promise<Capture> => {
  const filterArgs = captureFilter === undefined ? [] : ["-f", captureFilter]
  const p: ChildProcess = spawn("ip", [
    "netns",
    "exec",
    ns.name,
    "tshark",
    "-q",
    "-n",
    "-i",
    dev,
    ...filterArgs,
    "-w",
    file,
  ], {
    stdio: ["ignore", "ignore", "pipe"],
  })
  let stderr = ""
  let exited = false
  const done = new Promise<void>((resolve) =>
    p.on("close", () => {
      exited = true
      resolve()
    })
  )
  /** Probes with markers `base`, `base + 1`, … until one of them is in the file. */
  const fence = async (base: number): Promise<void> => {
    for (let i = 0; i < 60; i++) {
      if (exited) throw new Error(`tshark exited: ${stderr}`)
      await probe(base + i)
      const filter = `eth.dst == ff:ff:ff:ff:ff:ff && icmp.type == 8 && frame.len >= ${42 + base} && ` +
        `frame.len <= ${42 + base + i}`
      for (let k = 0; k < 4; k++) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        const r = await run("tshark", ["-n", "-r", file, "-Y", filter, "-T", "fields", "-e", "frame.number"])
        if (r.stdout.trim() !== "") return
      }
    }
    throw new Error(`tshark wrote none of 60 probe frames on ${dev}`)
  }
  const kill = async () => {
    if (exited) return
    p.kill("SIGINT")
    const timer = setTimeout(() => p.kill("SIGKILL"), 5_000)
    await done
    clearTimeout(timer)
  }
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`tshark did not start within 20 s: ${stderr}`)), 20_000)
      p.stderr!.setEncoding("utf8")
      p.stderr!.on("data", (d: string) => {
        stderr += d
        if (stderr.includes("Capturing on")) {
          clearTimeout(timer)
          resolve()
        }
      })
      p.on("close", () => {
        clearTimeout(timer)
        reject(new Error(`tshark exited before capturing: ${stderr}`))
      })
    })
    await fence(200)
  } catch (e) {
    await kill()
    throw e
  }
  let stopped = false
  return {
    file,
    stop: async () => {
      if (stopped) return
      stopped = true
      try {
        if (!exited) await fence(600)
      } finally {
        await kill()
      }
    },
  }
}

/**
 * A capture probe: one ping of `marker` data bytes to a subnet's broadcast address from inside the namespace. Our
 * stacks ignore broadcast echoes; the kernel answers its own looped-back copy (see {@link makeNetns}).
 */
export const broadcastPing = (ns: Netns, broadcast: string) => (marker: number): Promise<RunResult> =>
  ns.exec(["ping", "-n", "-b", "-c", "1", "-W", "0.05", "-s", String(marker), broadcast], { timeoutMs: 5_000 })

/**
 * Validates a pcap with tshark, checksum checks on: the lines of the bad frames (`number<TAB>expert message`), empty
 * when every frame is good. tshark exits 0 either way, so the output is what counts.
 */
export const badFrames = async (file: string): Promise<Array<string>> => {
  const r = await run("tshark", [
    "-n",
    "-r",
    file,
    ...TSHARK_CHECKS,
    "-Y",
    BAD_FRAME_FILTER,
    "-T",
    "fields",
    "-e",
    "frame.number",
    "-e",
    "_ws.expert.message",
  ])
  if (r.code !== 0) throw new Error(`tshark -r ${file} failed: ${r.stderr}`)
  return r.stdout.split("\n").filter((l) => l.trim() !== "")
}

/** How many frames of a pcap match a display filter. */
export const countFrames = async (file: string, filter: string): Promise<number> => {
  const r = await run("tshark", [
    "-n",
    "-r",
    file,
    ...TSHARK_CHECKS,
    "-Y",
    filter,
    "-T",
    "fields",
    "-e",
    "frame.number",
  ])
  if (r.code !== 0) throw new Error(`tshark -r ${file} -Y '${filter}' failed: ${r.stderr}`)
  return r.stdout.split("\n").filter((l) => l.trim() !== "").length
}

/** Writes a classic pcap (linktype 1, Ethernet; microsecond timestamps 1 ms apart). */
export const writePcap = (file: string, frames: ReadonlyArray<Uint8Array>): void => {
  const size = 24 + frames.reduce((n, f) => n + 16 + f.length, 0)
  const out = new Uint8Array(size)
  const v = new DataView(out.buffer)
  v.setUint32(0, 0xa1b2c3d4, true)
  v.setUint16(4, 2, true)
  v.setUint16(6, 4, true)
  v.setUint32(16, 65535, true)
  v.setUint32(20, 1, true)
  let o = 24
  frames.forEach((f, i) => {
    v.setUint32(o, 1_700_000_000, true)
    v.setUint32(o + 4, i * 1000, true)
    v.setUint32(o + 8, f.length, true)
    v.setUint32(o + 12, f.length, true)
    out.set(f, o + 16)
    o += 16 + f.length
  })
  writeFileSync(file, out)
}

// ---- child processes of this runtime ------------------------------------------------------------------------------

/** The command line that runs a TypeScript file with the runtime running the tests. */
export const runtimeCommand = (script: string, args: ReadonlyArray<string>): Array<string> => {
  if (RUNTIME === "deno") {
    const exe = (globalThis as unknown as { Deno: { execPath: () => string } }).Deno.execPath()
    return [exe, "run", "-A", "--config", join(ROOT, "deno.json"), script, ...args]
  }
  return [process.execPath, "run", script, ...args]
}

/** A child process that speaks line by line: `await line(prefix)` waits for a line starting with `prefix`. */
export interface LineChild {
  /** Waits for the next line that starts with `prefix` (rejects after `timeoutMs`, or when the child exits). */
  readonly line: (prefix: string, timeoutMs?: number) => Promise<string>
  /** Writes a line to the child's stdin. */
  readonly send: (text: string) => void
  /** Waits for the exit code (kills with SIGKILL after `timeoutMs`). */
  readonly exit: (timeoutMs?: number) => Promise<number | null>
  /** Everything the child wrote to stderr so far. */
  readonly stderr: () => string
  /** Sends a signal to the child. */
  readonly signal: (signal: "SIGINT" | "SIGTERM") => void
  /** Kills the child (idempotent). */
  readonly kill: () => void
}

/** Starts `cmd args` with piped stdio, reading its stdout line by line. */
export const spawnLines = (cmd: string, args: ReadonlyArray<string>): LineChild => {
  const p = spawn(cmd, [...args], { stdio: ["pipe", "pipe", "pipe"] })
  const lines: Array<string> = []
  let buf = ""
  let err = ""
  let exited = false
  let code: number | null = null
  const waiters: Array<() => void> = []
  const notify = () => {
    for (const w of waiters.splice(0)) w()
  }
  p.stdout!.setEncoding("utf8")
  p.stderr!.setEncoding("utf8")
  p.stdout!.on("data", (d: string) => {
    buf += d
    let i: number
    while ((i = buf.indexOf("\n")) >= 0) {
      lines.push(buf.slice(0, i))
      buf = buf.slice(i + 1)
    }
    notify()
  })
  p.stderr!.on("data", (d: string) => {
    err += d
  })
  p.stdin!.on("error", () => {})
  const closed = new Promise<void>((resolve) =>
    p.on("close", (c) => {
      exited = true
      code = c
      notify()
      resolve()
    })
  )
  const line = (prefix: string, timeoutMs = 20_000): Promise<string> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "${prefix}" line within ${timeoutMs} ms; stderr: ${err}`)),
        timeoutMs,
      )
      const check = () => {
        const i = lines.findIndex((l) => l.startsWith(prefix))
        if (i >= 0) {
          clearTimeout(timer)
          resolve(lines.splice(0, i + 1)[i].slice(prefix.length).trim())
        } else if (exited) {
          clearTimeout(timer)
          reject(new Error(`child exited (${code}) before a "${prefix}" line; stderr: ${err}`))
        } else {
          waiters.push(check)
        }
      }
      check()
    })
  const kill = () => {
    if (!exited) p.kill("SIGKILL")
  }
  return {
    line,
    send: (text) => {
      if (!exited) p.stdin!.write(text.endsWith("\n") ? text : `${text}\n`)
    },
    exit: async (timeoutMs = 10_000) => {
      const timer = setTimeout(kill, timeoutMs)
      await closed
      clearTimeout(timer)
      return code
    },
    stderr: () => err,
    signal: (signal) => {
      if (!exited) p.kill(signal)
    },
    kill,
  }
}
