/**
 * VXLAN (RFC 7348): Ethernet frames carried in UDP datagrams, as an uplink of a switch. Two processes (or hosts) that
 * each run a switch with a VXLAN uplink form one LAN, and a Linux `vxlan` device (or Open vSwitch) joins it too.
 *
 * Wire format (RFC 7348 §5): a UDP datagram (destination port 4789 by default) whose payload is an 8-byte header
 * `08 00 00 00 | VNI (24 bits) | 00` — the I flag set, every reserved bit zero on send — then the inner Ethernet frame
 * without FCS. On receipt only the I flag and the VNI are checked (reserved bits are ignored, as §5 requires); a
 * datagram without the I flag or shorter than header + 14 bytes is dropped and counted in `rxBadHeader`, one for
 * another VNI in `rxWrongVni`.
 *
 * Forwarding (§4's flood-and-learn, with a static list instead of a multicast group): the source MAC of every inner
 * frame received (unicast sources only) is learned with the endpoint it came from — the sender's address, and as
 * port the static remote's of that address, else `learnedPort` (senders choose their source port freely: Linux
 * hashes the inner flow into it, so answering the source port would hit a closed port). A frame to a learned unicast
 * MAC goes to that endpoint only; broadcast, multicast and unknown unicast are flooded, one datagram each, to every
 * static remote and to every endpoint some learned MAC points at (so a process with no static remotes still answers
 * the peers that found it). The table holds at most `macTableSize` MACs (oldest first out); a MAC that moves is
 * re-learned from its next frame. Entries do not age.
 *
 * Sockets: `node:dgram`, which Bun, Deno and Node all provide. On Bun and Node the socket buffers are raised to
 * `socketBufferSize` (default 4 MiB); on Deno they are left alone by default, because setting them makes Deno's
 * `node:dgram` collapse to a few Mbit/s (measured: 1.7–2.6 Mbit/s with 4 MiB against ~100 Mbit/s without). Every
 * datagram received is copied once (the inner frame into a fresh buffer the backend owns), every frame sent once (the
 * header in front). Bind with port 0 for an ephemeral port (`socket.local` tells which) and add remotes later with
 * `addRemote`.
 *
 * Kernel side: a Linux vxlan device hands inner TCP/UDP packets to the wire with *unfinished* checksums while its tx
 * checksum offload is on (the default), so a userspace receiver sees bad checksums — ping works (ICMP is summed in
 * software) but TCP does not. Run `ethtool -K vx0 tx off` on the kernel's vxlan device. Also: with its underlay on
 * a local address, the kernel delivers to a local vxlan device instead of sending UDP ("local bypass"; iproute2
 * ≥ 6.7 has `nolocalbypass`): keep our socket in another network namespace than the kernel's vxlan device. The inner
 * MTU must leave room for 50 bytes of outer headers (1450 on a 1500 underlay); a larger datagram is fragmented by
 * the kernel's IP layer, which works but costs.
 *
 * MACs: `Vxlan.make`/`Vxlan.layer` give the switch's ports MACs under a random locally administered prefix
 * (`02:xx:xx:…`, see `Uplink.withMacPrefix`), because every switch numbers its ports from 0 and two processes on one
 * VXLAN would otherwise both have `02:50:00:00:00:01`. Pass `macPrefix` for fixed MACs.
 *
 * Errors: {@link VxlanError} with `reason` "InvalidConfig" (VNI, ports, addresses, sizes) or "Bind" (the socket could
 * not be bound: `EADDRINUSE`, `EACCES`, `EADDRNOTAVAIL`; the message says which and what to do). Send failures are
 * counted in `txErrors`, not failed.
 *
 * @module
 */
import dgram from "node:dgram"
import { isIP } from "node:net"
import type * as Scope from "effect/Scope"
import * as Cause from "effect/Cause"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import type { TaggedErrorClass } from "../../util/TaggedErrorClass.ts"
import { Backend, type BackendError, type BackendShape } from "../Backend.ts"
import { Switch, type SwitchOptions } from "../Switch.ts"
import { type FrameWire, Uplink, type UplinkHandle } from "./Uplink.ts"

// ---- errors -----------------------------------------------------------------------------------------------------

/** Why a VXLAN operation failed. */
export type VxlanErrorReason = "InvalidConfig" | "Bind"

/** The fields of {@link VxlanError}. */
export interface VxlanErrorFields {
  /** Which kind of failure this is. */
  readonly reason: VxlanErrorReason
  /** What went wrong and what to do, for a person. */
  readonly message: string
}

/** The base class of {@link VxlanError}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const VxlanErrorBase: TaggedErrorClass<"VxlanError", VxlanErrorFields> = Data.TaggedError("VxlanError")<
  VxlanErrorFields
>

/** Opening a VXLAN socket failed. */
export class VxlanError extends VxlanErrorBase {}

// ---- options and shapes -----------------------------------------------------------------------------------------

/** The IANA VXLAN port. */
export const VXLAN_PORT: number = 4789

/** Bytes of the VXLAN header. */
export const VXLAN_HEADER_LEN: number = 8

/** A UDP endpoint: an IP address (v4 or v6, the family of the local socket) and a port (default 4789). */
export interface VxlanEndpoint {
  /** The IP address. */
  readonly address: string
  /** The UDP port; default {@link VXLAN_PORT}. */
  readonly port?: number
}

/** Options of {@link Vxlan.open}. */
export interface VxlanOptions {
  /** The VXLAN Network Identifier, 0..16777215. */
  readonly vni: number
  /** Local address to bind (default `"0.0.0.0"`; an IPv6 address makes an IPv6 socket). */
  readonly address?: string
  /** Local UDP port (default 4789; 0 picks a free one). */
  readonly port?: number
  /** Static remotes: unknown and broadcast frames are flooded to each. */
  readonly remotes?: ReadonlyArray<VxlanEndpoint>
  /** The inner MTU (payload bytes per inner frame; frames up to `mtu + 14`), 68..65000; default 1500. */
  readonly mtu?: number
  /**
   * The UDP port to send to at an endpoint learned from received frames (not a static remote): a number, or
   * `"source"` for the source port of the frames. Default: our own bound `port` (peers listen where we do, as in a
   * normal deployment on 4789), or `"source"` when `port` is 0 (our own endpoints on ephemeral ports send from the
   * port they listen on). A sender whose address is a static remote's is always answered at that remote's port,
   * whatever its source port: Linux picks the source port from a hash of the inner flow.
   */
  readonly learnedPort?: number | "source"
  /** Most MACs in the learned table (default 4096). */
  readonly macTableSize?: number
  /** Capacity of the receive queue, in frames (default 4096); a full queue drops and counts in `rxDrops`. */
  readonly queueCapacity?: number
  /** Socket send/receive buffer size in bytes (default 4 MiB on Bun and Node, the system's on Deno; 0 = leave). */
  readonly socketBufferSize?: number
}

/** Counters of a VXLAN socket (a snapshot). */
export interface VxlanStats {
  /** Inner frames received and passed on. */
  readonly rxFrames: number
  /** Bytes of those inner frames. */
  readonly rxBytes: number
  /** Datagrams dropped: no I flag, or shorter than header + Ethernet header. */
  readonly rxBadHeader: number
  /** Datagrams dropped: another VNI. */
  readonly rxWrongVni: number
  /** Frames dropped because the receive queue was full. */
  readonly rxDrops: number
  /** Datagrams sent (a flooded frame counts once per remote). */
  readonly txDatagrams: number
  /** Inner frames sent (a flooded frame counts once). */
  readonly txFrames: number
  /** Bytes of those inner frames. */
  readonly txBytes: number
  /** Frames flooded (broadcast, multicast, unknown unicast). */
  readonly txFlooded: number
  /** Frames dropped because no remote was known. */
  readonly txNoRemote: number
  /** Datagrams whose send failed (reported by the socket). */
  readonly txErrors: number
  /** MACs in the learned table. */
  readonly learnedMacs: number
}

/** An open VXLAN socket: a {@link FrameWire} plus its endpoints, remotes and counters. */
export interface VxlanSocket extends FrameWire {
  /** The VNI. */
  readonly vni: number
  /** The bound local endpoint (the real port when 0 was asked for). */
  readonly local: { readonly address: string; readonly port: number }
  /** Adds a static remote (flooded to); fails with `InvalidConfig` for a bad address or port. */
  readonly addRemote: (remote: VxlanEndpoint) => Effect.Effect<void, VxlanError>
  /** Removes a static remote (no-op if absent). */
  readonly removeRemote: (remote: VxlanEndpoint) => Effect.Effect<void>
  /** The static remotes. */
  readonly remotes: Effect.Effect<ReadonlyArray<{ readonly address: string; readonly port: number }>>
  /** The learned table: each MAC (as `aa:bb:cc:dd:ee:ff`) with the endpoint it was learned from. */
  readonly learned: Effect.Effect<
    ReadonlyArray<{ readonly mac: string; readonly address: string; readonly port: number }>
  >
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<VxlanStats>
}

/** A VXLAN socket bridged to a backend port. */
export interface VxlanUplink extends UplinkHandle {
  /** The socket. */
  readonly socket: VxlanSocket
}

/** Options of {@link Vxlan.make} / {@link Vxlan.layer}. */
export interface VxlanNetworkOptions extends VxlanOptions {
  /** Options of the switch that is created (default: a learning switch). */
  readonly switch?: SwitchOptions
  /** First three octets of the ports' MACs (e.g. `"02:aa:bb"`); default: random `02:xx:xx` from `Random`. */
  readonly macPrefix?: string | number
}

/** What {@link Vxlan.make} returns: a switch whose port 0 is the VXLAN uplink. */
export interface VxlanNetwork {
  /** The Backend to build stacks on. */
  readonly backend: BackendShape
  /** The uplink (its port, the socket, counters). */
  readonly uplink: VxlanUplink
}

// ---- implementation ---------------------------------------------------------------------------------------------

interface Endpoint {
  readonly key: string
  readonly address: string
  readonly port: number
  /** Learned MACs pointing here. */
  refs: number
  /** A static remote. */
  isStatic: boolean
}

const invalid = (message: string): VxlanError => new VxlanError({ reason: "InvalidConfig", message })

const isPort = (p: number, allowZero: boolean): boolean => Number.isInteger(p) && p >= (allowZero ? 0 : 1) && p <= 65535

const isDeno = (): boolean => (globalThis as { readonly Deno?: unknown }).Deno !== undefined

const macText = (hi: number, lo: number): string =>
  [hi >>> 8, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff]
    .map((b) => b.toString(16).padStart(2, "0")).join(":")

const bindError = (address: string, port: number, e: unknown): VxlanError => {
  const code = typeof e === "object" && e !== null && "code" in e ? String((e as { code: unknown }).code) : ""
  const text = e instanceof Error ? e.message : String(e)
  const advice = code === "EADDRINUSE"
    ? "another socket (a kernel vxlan device, another process) has this port: pick another port, or 0 for any"
    : code === "EACCES"
    ? "ports below 1024 need root (CAP_NET_BIND_SERVICE)"
    : code === "EADDRNOTAVAIL"
    ? "no interface of this network namespace has that address"
    : "see the message"
  return new VxlanError({ reason: "Bind", message: `cannot bind UDP ${address}:${port}: ${text}; ${advice}` })
}

const validate = (o: VxlanOptions): VxlanError | undefined => {
  if (!Number.isInteger(o.vni) || o.vni < 0 || o.vni > 0xffffff) {
    return invalid(`vni must be an integer in 0..16777215, got ${o.vni}`)
  }
  const address = o.address ?? "0.0.0.0"
  if (isIP(address) === 0) return invalid(`address must be an IP address, got ${JSON.stringify(address)}`)
  if (!isPort(o.port ?? VXLAN_PORT, true)) return invalid(`port must be an integer in 0..65535, got ${o.port}`)
  const mtu = o.mtu ?? 1500
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65000) {
    return invalid(`mtu must be an integer in 68..65000, got ${mtu}`)
  }
  for (const [name, v] of [["macTableSize", o.macTableSize], ["queueCapacity", o.queueCapacity]] as const) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      return invalid(`${name} must be a positive integer, got ${v}`)
    }
  }
  const lp = o.learnedPort
  if (lp !== undefined && lp !== "source" && !isPort(lp, false)) {
    return invalid(`learnedPort must be "source" or a port in 1..65535, got ${lp}`)
  }
  const buf = o.socketBufferSize
  if (buf !== undefined && (!Number.isInteger(buf) || buf < 0)) {
    return invalid(`socketBufferSize must be a non-negative integer, got ${buf}`)
  }
  return undefined
}

const open = (options: VxlanOptions): Effect.Effect<VxlanSocket, VxlanError, Scope.Scope> =>
  Effect.gen(function* () {
    const bad = validate(options)
    if (bad !== undefined) return yield* Effect.fail(bad)
    const vni = options.vni
    const address = options.address ?? "0.0.0.0"
    const family = isIP(address)
    const mtu = options.mtu ?? 1500
    const maxFrame = mtu + 14
    const macTableSize = options.macTableSize ?? 4096
    const bufferSize = options.socketBufferSize ?? (isDeno() ? 0 : 4 * 1024 * 1024)
    const boundPort = options.port ?? VXLAN_PORT
    const learnedPort: number | "source" = options.learnedPort ?? (boundPort === 0 ? "source" : boundPort)
    let closed = false

    const socket = yield* Effect.acquireRelease(
      Effect.callback<dgram.Socket, VxlanError>((resume) => {
        const s = dgram.createSocket({ type: family === 6 ? "udp6" : "udp4" })
        const onError = (e: unknown) => {
          s.removeListener("listening", onListening)
          try {
            s.close()
          } catch {
            // already closed
          }
          resume(Effect.fail(bindError(address, options.port ?? VXLAN_PORT, e)))
        }
        const onListening = () => {
          s.removeListener("error", onError)
          resume(Effect.succeed(s))
        }
        s.once("error", onError)
        s.once("listening", onListening)
        s.bind({ address, port: options.port ?? VXLAN_PORT, exclusive: true })
      }),
      (s) =>
        Effect.callback<void>((resume) => {
          closed = true
          try {
            s.close(() => resume(Effect.void))
          } catch {
            resume(Effect.void)
          }
        }),
    )
    const local = socket.address()

    if (bufferSize > 0) {
      try {
        socket.setRecvBufferSize(bufferSize)
        socket.setSendBufferSize(bufferSize)
      } catch (e) {
        yield* Effect.logDebug(`vnetif vxlan: cannot set socket buffers to ${bufferSize}: ${String(e)}`)
      }
    }

    // ---- remotes and learning ---------------------------------------------------------------------------------
    const endpoints = new Map<string, Endpoint>()
    /** Static remotes plus endpoints with learned MACs: where floods go. Rebuilt when membership changes. */
    let floodList: Array<Endpoint> = []
    const learned = new Map<number, Endpoint>() // MAC (48 bits as a number) → endpoint

    const rebuildFloodList = () => {
      floodList = [...endpoints.values()].filter((e) => e.isStatic || e.refs > 0)
    }
    const endpointFor = (addr: string, port: number): Endpoint => {
      const key = `${addr}|${port}`
      let ep = endpoints.get(key)
      if (ep === undefined) {
        ep = { key, address: addr, port, refs: 0, isStatic: false }
        endpoints.set(key, ep)
      }
      return ep
    }
    const release = (ep: Endpoint) => {
      ep.refs--
      if (ep.refs <= 0 && !ep.isStatic) {
        endpoints.delete(ep.key)
        rebuildFloodList()
      }
    }
    /**
     * The endpoint to answer a datagram from `addr:port` at. Senders pick their source port freely (Linux hashes the
     * inner flow into it, RFC 7348 §5), so the source port is only used when `learnedPort` is "source": a static
     * remote with that address and port, else the (first) static remote with that address, else `addr` at
     * `learnedPort`.
     */
    const resolve = (addr: string, port: number): Endpoint => {
      const exact = endpoints.get(`${addr}|${port}`)
      if (exact !== undefined && exact.isStatic) return exact
      for (const ep of floodList) if (ep.isStatic && ep.address === addr) return ep
      return endpointFor(addr, learnedPort === "source" ? port : learnedPort)
    }
    const learn = (mac: number, addr: string, port: number) => {
      const old = learned.get(mac)
      if (old !== undefined && old.address === addr && (old.port === port || learnedPort !== "source")) return
      const ep = resolve(addr, port)
      if (old === ep) return
      ep.refs++ // before `release`, so an endpoint shared by old and new is not deleted in between
      if (old !== undefined) {
        learned.delete(mac)
        release(old)
      } else if (learned.size >= macTableSize) {
        const oldest = learned.entries().next()
        if (oldest.done !== true) {
          learned.delete(oldest.value[0])
          release(oldest.value[1])
        }
      }
      learned.set(mac, ep)
      if (ep.refs === 1 && !ep.isStatic) rebuildFloodList()
    }

    const checkRemote = (r: VxlanEndpoint): VxlanError | undefined => {
      const fam = isIP(r.address)
      if (fam === 0) return invalid(`remote address must be an IP address, got ${JSON.stringify(r.address)}`)
      if (fam !== family) return invalid(`remote ${r.address} is IPv${fam} but the socket is IPv${family}`)
      if (!isPort(r.port ?? VXLAN_PORT, false)) return invalid(`remote port must be in 1..65535, got ${r.port}`)
      return undefined
    }
    const addRemote = (r: VxlanEndpoint): Effect.Effect<void, VxlanError> =>
      Effect.suspend(() => {
        const e = checkRemote(r)
        if (e !== undefined) return Effect.fail(e)
        endpointFor(r.address, r.port ?? VXLAN_PORT).isStatic = true
        rebuildFloodList()
        return Effect.void
      })
    const removeRemote = (r: VxlanEndpoint): Effect.Effect<void> =>
      Effect.sync(() => {
        const ep = endpoints.get(`${r.address}|${r.port ?? VXLAN_PORT}`)
        if (ep === undefined || !ep.isStatic) return
        ep.isStatic = false
        if (ep.refs <= 0) endpoints.delete(ep.key)
        rebuildFloodList()
      })
    for (const r of options.remotes ?? []) yield* addRemote(r)

    // ---- counters ---------------------------------------------------------------------------------------------
    let rxFrames = 0
    let rxBytes = 0
    let rxBadHeader = 0
    let rxWrongVni = 0
    let rxDrops = 0
    let txDatagrams = 0
    let txFrames = 0
    let txBytes = 0
    let txFlooded = 0
    let txNoRemote = 0
    let txErrors = 0

    // ---- send -------------------------------------------------------------------------------------------------
    const vniHi = (vni >>> 16) & 0xff
    const vniMid = (vni >>> 8) & 0xff
    const vniLo = vni & 0xff
    const onSent = (err: unknown) => {
      if (err !== null && err !== undefined) txErrors++
    }
    const sendTo = (datagram: Uint8Array, ep: Endpoint) => {
      txDatagrams++
      try {
        socket.send(datagram, ep.port, ep.address, onSent)
      } catch {
        txErrors++
      }
    }
    const send = (frame: Uint8Array): boolean => {
      if (closed || frame.length < 14) return false
      let target: Endpoint | undefined = undefined
      if ((frame[0] & 1) === 0) {
        target = learned.get(frame[0] * 0x10000000000 + frame[1] * 0x100000000 + readU32(frame, 2))
      }
      if (target === undefined && floodList.length === 0) {
        txNoRemote++
        return false
      }
      const datagram = new Uint8Array(VXLAN_HEADER_LEN + frame.length)
      datagram[0] = 0x08
      datagram[4] = vniHi
      datagram[5] = vniMid
      datagram[6] = vniLo
      datagram.set(frame, VXLAN_HEADER_LEN)
      txFrames++
      txBytes += frame.length
      if (target !== undefined) {
        sendTo(datagram, target)
      } else {
        txFlooded++
        const list = floodList
        for (let i = 0; i < list.length; i++) sendTo(datagram, list[i])
      }
      return true
    }

    // ---- receive ----------------------------------------------------------------------------------------------
    const queue = yield* Queue.dropping<Uint8Array>(options.queueCapacity ?? 4096)
    const onMessage = (msg: Uint8Array, rinfo: { readonly address: string; readonly port: number }) => {
      const len = msg.length
      if (len < VXLAN_HEADER_LEN + 14 || (msg[0] & 0x08) === 0) {
        rxBadHeader++
        return
      }
      if (msg[4] !== vniHi || msg[5] !== vniMid || msg[6] !== vniLo) {
        rxWrongVni++
        return
      }
      const frame = new Uint8Array(len - VXLAN_HEADER_LEN)
      frame.set(msg.subarray(VXLAN_HEADER_LEN))
      if ((frame[6] & 1) === 0) {
        learn(frame[6] * 0x10000000000 + frame[7] * 0x100000000 + readU32(frame, 8), rinfo.address, rinfo.port)
      }
      if (Queue.offerUnsafe(queue, frame)) {
        rxFrames++
        rxBytes += frame.length
      } else {
        rxDrops++
      }
    }
    socket.on("message", onMessage)
    // Errors after bind (e.g. ICMP-reported ones on some platforms) must not crash the process; send errors are
    // counted through the send callback.
    socket.on("error", () => {
      txErrors++
    })
    yield* Effect.addFinalizer(() => Queue.shutdown(queue))

    const receive = (deliver: (frame: Uint8Array) => Effect.Effect<void>): Effect.Effect<void> =>
      Effect.whileLoop({
        while: () => !closed,
        body: () =>
          Effect.flatMap(Queue.takeAll(queue), (frames) => Effect.forEach(frames, deliver, { discard: true })),
        step: () => {},
      }).pipe(Effect.catchCause((cause) => (Cause.hasInterrupts(cause) ? Effect.failCause(cause) : Effect.void)))

    const stats: Effect.Effect<VxlanStats> = Effect.sync(() => ({
      rxFrames,
      rxBytes,
      rxBadHeader,
      rxWrongVni,
      rxDrops,
      txDatagrams,
      txFrames,
      txBytes,
      txFlooded,
      txNoRemote,
      txErrors,
      learnedMacs: learned.size,
    }))

    const localAddress = { address: local.address, port: local.port }
    return {
      name: `vxlan ${local.address}:${local.port} vni ${vni}`,
      mtu,
      vni,
      local: localAddress,
      send: (frame: Uint8Array) => frame.length <= maxFrame && send(frame),
      receive,
      addRemote,
      removeRemote,
      remotes: Effect.sync(() =>
        [...endpoints.values()].filter((e) => e.isStatic).map((e) => ({ address: e.address, port: e.port }))
      ),
      learned: Effect.sync(() =>
        [...learned.entries()].map(([mac, ep]) => ({
          mac: macText(Math.floor(mac / 0x100000000), mac >>> 0),
          address: ep.address,
          port: ep.port,
        }))
      ),
      stats,
    }
  })

const readU32 = (b: Uint8Array, o: number): number =>
  ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0

const attach = (options: VxlanOptions): Effect.Effect<VxlanUplink, VxlanError | BackendError, Backend | Scope.Scope> =>
  Effect.gen(function* () {
    const socket = yield* open(options)
    const uplink = yield* Uplink.attach(socket)
    return { ...uplink, socket }
  })

const make = (options: VxlanNetworkOptions): Effect.Effect<VxlanNetwork, VxlanError | BackendError, Scope.Scope> =>
  Effect.gen(function* () {
    const sw: BackendShape = yield* Switch.make(options.switch)
    const prefix = options.macPrefix ?? (yield* Uplink.randomMacPrefix)
    const backend = yield* Uplink.withMacPrefix(sw, prefix)
    const uplink = yield* Effect.provideService(attach(options), Backend, backend)
    return { backend, uplink }
  })

const layer = (options: VxlanNetworkOptions): Layer.Layer<Backend, VxlanError | BackendError> =>
  Layer.effect(Backend, Effect.map(make(options), (net) => net.backend))

/** The VXLAN uplink; see the module docs. */
export const Vxlan: {
  /** Binds a VXLAN UDP socket; it is closed when the Scope closes. */
  readonly open: (options: VxlanOptions) => Effect.Effect<VxlanSocket, VxlanError, Scope.Scope>
  /** Binds the socket and bridges it to a new port of the context's Backend. */
  readonly attach: (
    options: VxlanOptions,
  ) => Effect.Effect<VxlanUplink, VxlanError | BackendError, Backend | Scope.Scope>
  /** A new Switch (ports under a MAC prefix) whose port 0 is the VXLAN uplink; returns the Backend and the uplink. */
  readonly make: (options: VxlanNetworkOptions) => Effect.Effect<VxlanNetwork, VxlanError | BackendError, Scope.Scope>
  /** `make` as a Layer providing the Backend (build stacks with `checksum: "all"` on it). */
  readonly layer: (options: VxlanNetworkOptions) => Layer.Layer<Backend, VxlanError | BackendError>
} = { open, attach, make, layer }
