/**
 * The TAP lab shared by the kernel tests (and by the TCP-round tests to come: curl, iperf3, HTTP): a namespace with
 * the kernel end of a TAP, our stack in this process on the other end, a tshark capture, and at the end the checks
 * every test owes — no bad frame in the capture, the kernel's error counters at zero. Plus small helpers for kernel
 * peers written in Python.
 *
 * Topology (see tap.test.ts): TUNSETIFF in the root namespace (no address, down), moved at once with
 * `ip link set vtN netns vn-<pid>-<n>`, configured there as 10.99.0.1/24; our stack is 10.99.0.2/24.
 *
 * A TCP test slots in as
 * ```ts
 * const { result, report } = await withTapLab((lab) => Effect.gen(function* () {
 *   // lab.stack (ours, checksum "all"), lab.ns.exec(["curl", …]) (the kernel), lab.net.uplink stats
 * }), { count: ["tcp.analysis.retransmission"] })
 * assertClean(report)
 * ```
 *
 * @module
 */
import assert from "node:assert/strict"
import { spawnSync } from "node:child_process"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Backend } from "../../src/link/Backend.ts"
import { Tap, type TapNetwork } from "../../src/link/uplink/Tap.ts"
import { Stack, type StackHandle } from "../../src/Stack.ts"
import { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import {
  badFrames,
  broadcastPing,
  type Capture,
  countFrames,
  ERROR_COUNTERS,
  ifname,
  linkMac,
  makeNetns,
  type Netns,
  nstat,
  removeTempDir,
  startCapture,
  tempDir,
} from "./_netns.ts"

/** The kernel's address on the TAP. */
export const KERNEL: string = "10.99.0.1"
/** Our stack's address on the TAP. */
export const OURS: string = "10.99.0.2"
/** {@link KERNEL} as an address value. */
export const kernelAddr: Ipv4Address = Ipv4Address.parse(KERNEL)!

/** One lab: a namespace with the kernel end of a TAP, our stack on the other end, and a capture. */
export interface Lab {
  /** The namespace of the kernel end (run kernel tools with `ns.exec`). */
  readonly ns: Netns
  /** The TAP's name. */
  readonly dev: string
  /** The kernel end's MAC, lower case. */
  readonly kernelMac: string
  /** Our switch and its TAP uplink. */
  readonly net: TapNetwork
  /** Our stack, 10.99.0.2/24, every checksum on. */
  readonly stack: StackHandle
  /** The running capture on the TAP. */
  readonly capture: Capture
}

/** What a lab checks at the end, besides the test's own assertions. */
export interface LabReport {
  /** The pcap's bad frames (must be empty). */
  readonly bad: Array<string>
  /** The kernel's error counters (must be zero). */
  readonly counters: Record<string, number>
  /** How many captured frames matched each of the `count` filters. */
  readonly counts: Record<string, number>
}

/**
 * Builds a lab, runs `body`, then stops the capture, reads the kernel counters, closes the stack (which closes the
 * fd and so deletes the TAP), validates the capture and deletes the namespace — also when `body` fails. With the
 * environment variable `KEEP_PCAP` set, the capture is kept and its path printed.
 */
export const withTapLab = async <A>(
  body: (lab: Lab) => Effect.Effect<A, unknown, Scope.Scope>,
  options?: {
    readonly mtu?: number
    readonly kernelMtu?: number
    /** Display filters whose matching frames are counted in the capture. */
    readonly count?: ReadonlyArray<string>
    /** A BPF capture filter (default: capture everything); see `SAMPLE_TCP_PORT`. */
    readonly captureFilter?: string
  },
): Promise<{ readonly result: A; readonly report: LabReport }> => {
  const dir = tempDir()
  const ns = makeNetns()
  const pcap = join(dir, "tap.pcap")
  let capture: Capture | undefined
  try {
    let counters: Record<string, number> = {}
    const result = await Effect.runPromise(Effect.scoped(Effect.gen(function* () {
      const dev = ifname("vt")
      const net = yield* Tap.make({ name: dev, ...(options?.mtu === undefined ? {} : { mtu: options.mtu }) })
      // Move first, then configure: the TAP never has an address or carrier in the root namespace.
      yield* Effect.sync(() => {
        ipRoot(["link", "set", dev, "netns", ns.name])
        ns.ip("addr", "add", `${KERNEL}/24`, "dev", dev)
        if (options?.kernelMtu !== undefined) ns.ip("link", "set", dev, "mtu", String(options.kernelMtu))
        ns.ip("link", "set", dev, "up")
      })
      const kernelMac = linkMac(ns, dev)
      capture = yield* Effect.promise(() =>
        startCapture(ns, dev, pcap, broadcastPing(ns, "10.99.0.255"), options?.captureFilter)
      )
      const stack = yield* Stack.make({
        cidr: `${OURS}/24`,
        checksum: "all",
        ...(options?.mtu === undefined ? {} : { mtu: options.mtu }),
      }).pipe(Effect.provideService(Backend, net.backend))
      const value = yield* body({ ns, dev, kernelMac, net, stack, capture })
      yield* Effect.promise(() => capture!.stop())
      counters = yield* Effect.promise(() => nstat(ns, ERROR_COUNTERS))
      return value
    })))
    const bad = await badFrames(pcap)
    const counts: Record<string, number> = {}
    for (const f of options?.count ?? []) counts[f] = await countFrames(pcap, f)
    return { result, report: { bad, counters, counts } }
  } finally {
    await capture?.stop().catch(() => {})
    ns.del()
    if (process.env.KEEP_PCAP === undefined) removeTempDir(dir)
    else console.log(`kept ${pcap}`)
  }
}

/**
 * `ip …` in the root namespace, used only to move a TAP we just made out of it and to check that a TAP is gone:
 * nothing is ever configured there. Returns the exit status.
 */
export const spawnIp = (args: ReadonlyArray<string>): number | null =>
  spawnSync("ip", [...args], { stdio: "ignore" }).status

/** {@link spawnIp}, throwing when it fails. */
export const ipRoot = (args: ReadonlyArray<string>): void => {
  if (spawnIp(args) !== 0) throw new Error(`ip ${args.join(" ")} failed`)
}

/** Asserts a clean capture and zero kernel error counters. */
export const assertClean = (report: LabReport, options?: { readonly allowUdpOverflow?: boolean }): void => {
  assert.deepEqual(report.bad, [], `tshark flagged frames:\n${report.bad.join("\n")}`)
  for (const c of ERROR_COUNTERS) {
    // a deliberate UDP flood may overflow the kernel receiver's socket buffer (UdpInErrors counts RcvbufErrors);
    // checksum errors (UdpInCsumErrors) are still asserted
    if (options?.allowUdpOverflow === true && c === "UdpInErrors") continue
    assert.equal(report.counters[c], 0, `kernel counter ${c}`)
  }
}

/** Runs a Python snippet inside the namespace and parses the JSON it prints last. */
export const python = async (
  ns: Netns,
  code: string,
  timeoutMs: number = 30_000,
): Promise<Record<string, unknown>> => {
  const r = await ns.exec(["python3", "-c", code], { timeoutMs })
  const last = r.stdout.trim().split("\n").pop() ?? ""
  if (r.code !== 0 || !last.startsWith("{")) {
    throw new Error(`python3 failed (${r.code}): ${r.stderr}\n${r.stdout}`)
  }
  return JSON.parse(last) as Record<string, unknown>
}

/** The bytes of test datagram `i` of `size` bytes (the same formula as {@link PY_PATTERN}). */
export const pattern = (i: number, size: number): Uint8Array => {
  const b = new Uint8Array(size)
  for (let k = 0; k < size; k++) b[k] = (i * 31 + k * 7) & 0xff
  return b
}
/** {@link pattern} in Python, for kernel-side scripts. */
export const PY_PATTERN: string = "def pattern(i, n): return bytes(((i * 31 + k * 7) & 0xff) for k in range(n))"
