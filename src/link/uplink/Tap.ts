/**
 * TAP: a Linux TAP device (`/dev/net/tun`) as an uplink of a switch, so stacks on the switch talk to the kernel's
 * own network stack — and through it to anything the kernel can reach.
 *
 * Design: an **uplink**, not a backend of its own. `Tap.open` opens the device (a {@link FrameWire}); `Tap.attach`
 * bridges it to a new port of the `Backend` in the context (see `Uplink.ts`), so one `Switch` can have local
 * `Vnetif` ports and a TAP uplink at once; `Tap.make`/`Tap.layer` are the convenience form: a fresh `Switch` whose
 * port 0 is the TAP uplink, provided as the `Backend` for `Stack.make`:
 * ```ts
 * const program = Effect.gen(function* () {
 *   const stack = yield* Stack.make({ cidr: "10.99.0.2/24", checksum: "all" }) // a real wire: every checksum
 *   yield* stack.icmp.ping(Ipv4Address.parse("10.99.0.1")!)
 * }).pipe(Effect.scoped, Effect.provide(Tap.layer({ name: "vn0" })))
 * ```
 * The kernel side is configured with iproute2 as for any interface (`ip addr add 10.99.0.1/24 dev vn0; ip link set
 * vn0 up`); a device made beforehand with `ip tuntap add dev vn0 mode tap [user U]` is attached to as is (then no
 * root is needed), otherwise TUNSETIFF creates one that disappears when the fd is closed. The device may be moved to
 * another network namespace after it was opened (`ip link set vn0 netns NS`); the fd keeps working.
 *
 * Checksums: a TAP is a real wire. Stacks on it must be built with `checksum: "all"` (compute on send, verify on
 * receive); the uplink logs a warning when it sees an IPv4 frame without a header checksum going out. Without
 * `IFF_VNET_HDR` the kernel finishes checksums and segmentation before a frame reaches the TAP, so frames read from
 * it are complete, at most `mtu + 14` bytes of the kernel device.
 *
 * Device I/O (Linux, x86-64/aarch64 glibc): `open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)`,
 * `ioctl(fd, TUNSETIFF = 0x400454ca, ifreq)` with `IFF_TAP | IFF_NO_PI` (one `read` = one frame, one `write` = one
 * frame, no packet-information prefix), `close` on Scope close. libc is reached through the runtime's FFI: Bun's
 * `bun:ffi` (`dlopen("libc.so.6")`, loaded with a dynamic `import()` so the module also loads under Deno and Node) or
 * `Deno.dlopen` (needs `--allow-ffi` or `-A`). Node has no FFI: `Tap.open` fails there with `TapError`
 * "Unsupported" (use `Vxlan`, which needs only UDP sockets).
 *
 * The receive loop never blocks the event loop: the fd is non-blocking and the loop reads until `EAGAIN` (at most
 * `burst` frames), writing each frame into the backend; after a busy round it yields with `Effect.yieldNow` (the
 * Effect scheduler's `setImmediate`), after an empty round it waits `idlePollMillis` (default 1 ms) on the runtime's
 * own `setTimeout`, through `Effect.callback`. That timer is an I/O-adapter detail and deliberately not `Clock`:
 * polling a real device must go on in real time even under `TestClock`. After any frame in or out the loop first
 * spins `spinRounds` empty rounds on bare yields, and a frame sent wakes an idle wait at once, so the answer to a
 * frame we just sent is read within microseconds (stack→kernel ping, median: 1.2–2.3 ms with the timer alone,
 * 0.03–0.07 ms with the spin). Measured on this project's machines, this loop is the fastest of the frame I/O paths
 * tried (a blocking fd on a thread pool, a Worker, Deno's `nonblocking` FFI calls are 3–7 times slower) and the only
 * one that stops cleanly: a `read()` already blocked in a thread is not woken by `close`. Idle cost: one `read`
 * syscall per millisecond; a frame arriving while idle waits up to one timer tick (kernel→stack ping ≈ 0.8 ms on Bun,
 * 1.2 ms on Deno).
 *
 * Writes go straight to `write(fd)` on the uplink port's reader fiber. A write that fails (`EIO` while the device is
 * down, `EAGAIN`, `EBADFD` once the device was deleted) drops the frame and counts it in `txErrors`. A read error
 * other than `EAGAIN`/`EINTR` (e.g. the device was deleted with its namespace) is logged once and ends the loop.
 *
 * Errors: {@link TapError} with `reason` "Unsupported" (no FFI, or no `libc.so.6`), "PermissionDenied" (`EPERM` /
 * `EACCES`: needs CAP_NET_ADMIN, or `deno --allow-ffi`), "NoSuchDevice" (no `/dev/net/tun`), "Io" (any other errno,
 * e.g. `EBUSY` when another process holds the device, `EINVAL` when the name is a TUN or non-TAP interface), and
 * "InvalidConfig"; the message names the errno and what to do.
 *
 * @module
 */
import type * as Scope from "effect/Scope"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { TaggedErrorClass } from "../../util/TaggedErrorClass.ts"
import { Backend, type BackendError, type BackendShape } from "../Backend.ts"
import { Switch, type SwitchOptions } from "../Switch.ts"
import { type FrameWire, Uplink, type UplinkHandle, type UplinkStats } from "./Uplink.ts"

// ---- errors -----------------------------------------------------------------------------------------------------

/** Why a TAP operation failed. */
export type TapErrorReason = "Unsupported" | "PermissionDenied" | "NoSuchDevice" | "Io" | "InvalidConfig"

/** The fields of {@link TapError}. */
export interface TapErrorFields {
  /** Which kind of failure this is. */
  readonly reason: TapErrorReason
  /** What went wrong and what to do, for a person. */
  readonly message: string
  /** The errno of the failed call, when there was one. */
  readonly errno?: number
}

/** The base class of {@link TapError}: `Data.TaggedError` with its type spelled out (JSR explicit types). */
export const TapErrorBase: TaggedErrorClass<"TapError", TapErrorFields> = Data.TaggedError("TapError")<
  TapErrorFields
>

/** Opening or using a TAP device failed. */
export class TapError extends TapErrorBase {}

// ---- options and shapes -----------------------------------------------------------------------------------------

/** Options of {@link Tap.open}. */
export interface TapOptions {
  /** The interface name, at most 15 bytes; a pattern such as `"vn%d"` lets the kernel pick the number. */
  readonly name: string
  /** The MTU on our side (payload bytes per frame; frames up to `mtu + 14`), 68..65535; default 1500. */
  readonly mtu?: number
  /** How long the receive loop waits after an empty poll, in milliseconds (0..100, default 1). */
  readonly idlePollMillis?: number
  /** Most frames read in one busy round before the loop yields to the event loop (default 256). */
  readonly burst?: number
  /**
   * Empty rounds polled with a bare yield (no timer) after the last frame in or out, before the loop falls back to
   * the `idlePollMillis` timer: an answer to a frame just sent is picked up in microseconds (default 64; 0 turns
   * this off).
   */
  readonly spinRounds?: number
}

/** Counters of a TAP device (a snapshot). */
export interface TapStats {
  /** Frames read from the device. */
  readonly rxFrames: number
  /** Bytes read. */
  readonly rxBytes: number
  /** Frames written to the device. */
  readonly txFrames: number
  /** Bytes written. */
  readonly txBytes: number
  /** Writes that failed (device down or gone, queue full); the frame was dropped. */
  readonly txErrors: number
  /** Reads that failed with an errno other than EAGAIN/EINTR. */
  readonly rxErrors: number
  /** The errno of the last failed read or write (0 if none). */
  readonly lastErrno: number
}

/** An open TAP device: a {@link FrameWire} plus its name, fd and counters. */
export interface TapDevice extends FrameWire {
  /** The interface name the kernel gave (a pattern like `vn%d` resolved). */
  readonly ifname: string
  /** The file descriptor (closed when the Scope closes). */
  readonly fd: number
  /** A snapshot of the counters. */
  readonly stats: Effect.Effect<TapStats>
}

/** A TAP device bridged to a backend port. */
export interface TapUplink extends UplinkHandle {
  /** The device. */
  readonly device: TapDevice
}

/** Options of {@link Tap.make} / {@link Tap.layer}: the device, the switch, and the MACs of its ports. */
export interface TapNetworkOptions extends TapOptions {
  /** Options of the switch that is created (default: a learning switch). */
  readonly switch?: SwitchOptions
  /**
   * First three octets of the MACs of the switch's ports (e.g. `"02:aa:bb"`), for several processes on one LAN;
   * default: the switch's own `02:50:00:00:00:NN`.
   */
  readonly macPrefix?: string | number
}

/** What {@link Tap.make} returns: a switch whose port 0 is the TAP uplink. */
export interface TapNetwork {
  /** The Backend to build stacks on (`Effect.provideService(Backend, net.backend)`). */
  readonly backend: BackendShape
  /** The uplink (its port, the device, counters). */
  readonly uplink: TapUplink
}

// ---- libc through the runtime's FFI ------------------------------------------------------------------------------

/** The libc calls the TAP needs; lengths are `size_t` (u64), results `int`/`ssize_t` read as i32. */
interface Libc {
  readonly open: (path: Uint8Array, flags: number) => number
  readonly ioctl: (fd: number, request: number, arg: Uint8Array) => number
  readonly read: (fd: number, buf: Uint8Array, len: number) => number
  readonly write: (fd: number, buf: Uint8Array, len: number) => number
  readonly close: (fd: number) => number
  readonly errno: () => number
}

/** The part of `bun:ffi` used here (declared locally: the module must type-check without bun-types too). */
interface BunFfi {
  readonly dlopen: (
    path: string,
    symbols: Record<string, { readonly args: ReadonlyArray<number>; readonly returns: number }>,
  ) => { readonly symbols: Record<string, (...args: Array<unknown>) => unknown> }
  readonly FFIType: Record<string, number>
  readonly read: { readonly i32: (ptr: unknown, offset: number) => number }
}

/** The part of the `Deno` namespace used here. */
interface DenoFfi {
  readonly dlopen: (
    path: string,
    symbols: Record<string, { readonly parameters: ReadonlyArray<string>; readonly result: string }>,
  ) => { readonly symbols: Record<string, (...args: Array<unknown>) => unknown> }
  readonly UnsafePointerView: new (ptr: unknown) => { getInt32: (offset?: number) => number }
}

type Runtime = "bun" | "deno" | "other"

const runtime = (): Runtime => {
  const g = globalThis as { readonly Bun?: unknown; readonly Deno?: { readonly dlopen?: unknown } }
  if (g.Bun !== undefined) return "bun"
  if (g.Deno !== undefined && typeof g.Deno.dlopen === "function") return "deno"
  return "other"
}

const LIBC = "libc.so.6"
// In a variable so that `deno check`, `tsc` and bundlers leave the Bun-only specifier alone.
const BUN_FFI_SPECIFIER = "bun:ffi"

const loadBun = async (): Promise<Libc> => {
  const ffi = (await import(BUN_FFI_SPECIFIER)) as BunFfi
  const T = ffi.FFIType
  const lib = ffi.dlopen(LIBC, {
    open: { args: [T.ptr, T.i32], returns: T.i32 },
    ioctl: { args: [T.i32, T.u64, T.ptr], returns: T.i32 },
    read: { args: [T.i32, T.ptr, T.u64], returns: T.i32 },
    write: { args: [T.i32, T.ptr, T.u64], returns: T.i32 },
    close: { args: [T.i32], returns: T.i32 },
    __errno_location: { args: [], returns: T.ptr },
  }).symbols
  const errnoLocation = lib.__errno_location
  return {
    open: lib.open as Libc["open"],
    ioctl: lib.ioctl as Libc["ioctl"],
    read: lib.read as Libc["read"],
    write: lib.write as Libc["write"],
    close: lib.close as Libc["close"],
    errno: () => ffi.read.i32(errnoLocation(), 0),
  }
}

const loadDeno = (): Libc => {
  const D = (globalThis as unknown as { readonly Deno: DenoFfi }).Deno
  const lib = D.dlopen(LIBC, {
    open: { parameters: ["buffer", "i32"], result: "i32" },
    ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
    read: { parameters: ["i32", "buffer", "u64"], result: "i32" },
    write: { parameters: ["i32", "buffer", "u64"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
    __errno_location: { parameters: [], result: "pointer" },
  }).symbols
  const errnoLocation = lib.__errno_location
  return {
    open: lib.open as Libc["open"],
    ioctl: lib.ioctl as Libc["ioctl"],
    read: lib.read as Libc["read"],
    write: lib.write as Libc["write"],
    close: lib.close as Libc["close"],
    errno: () => new D.UnsafePointerView(errnoLocation()).getInt32(0),
  }
}

let libcCache: Libc | undefined = undefined

const errorText = (e: unknown): string => (e instanceof Error ? e.message : String(e))

/** Loads libc through the runtime's FFI, once per process. */
const loadLibc: Effect.Effect<Libc, TapError> = Effect.suspend(() => {
  if (libcCache !== undefined) return Effect.succeed(libcCache)
  const rt = runtime()
  if (rt === "other") {
    return Effect.fail(
      new TapError({
        reason: "Unsupported",
        message: "a TAP device needs a foreign-function interface to reach libc: run under Bun, or Deno with " +
          "--allow-ffi. Node has none; there, use Vxlan (UDP sockets only) to reach the kernel.",
      }),
    )
  }
  const load: Effect.Effect<Libc, TapError> = rt === "bun"
    ? Effect.tryPromise({
      try: loadBun,
      catch: (e) =>
        new TapError({ reason: "Unsupported", message: `cannot load ${LIBC} through bun:ffi: ${errorText(e)}` }),
    })
    : Effect.try({
      try: loadDeno,
      catch: (e) => {
        const name = e instanceof Error ? e.name : ""
        return name === "NotCapable" || name === "PermissionDenied"
          ? new TapError({
            reason: "PermissionDenied",
            message: `Deno refused FFI (${errorText(e)}): run with --allow-ffi (or -A) to open a TAP device`,
          })
          : new TapError({ reason: "Unsupported", message: `cannot load ${LIBC} through Deno.dlopen: ${errorText(e)}` })
      },
    })
  return Effect.tap(load, (lib) =>
    Effect.sync(() => {
      libcCache = lib
    }))
})

// ---- errno --------------------------------------------------------------------------------------------------------

const EPERM = 1
const ENOENT = 2
const EINTR = 4
const EIO = 5
const ENXIO = 6
const EAGAIN = 11
const EACCES = 13
const EBUSY = 16
const ENODEV = 19
const EINVAL = 22
const EBADFD = 77

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  16: "EBUSY",
  19: "ENODEV",
  22: "EINVAL",
  24: "EMFILE",
  77: "EBADFD",
}

/** `EPERM (1)`. */
const errnoName = (errno: number): string => `${ERRNO_NAMES[errno] ?? "errno"} (${errno})`

/** The TapError for a failed `open("/dev/net/tun")`. */
const openError = (errno: number): TapError => {
  if (errno === EACCES || errno === EPERM) {
    return new TapError({
      reason: "PermissionDenied",
      errno,
      message: `cannot open /dev/net/tun: ${errnoName(errno)}; run as root (or with CAP_NET_ADMIN), or make the ` +
        `device readable and writable for this user`,
    })
  }
  if (errno === ENOENT || errno === ENODEV || errno === ENXIO) {
    return new TapError({
      reason: "NoSuchDevice",
      errno,
      message: `cannot open /dev/net/tun: ${errnoName(errno)}; this kernel has no TUN/TAP driver (load the "tun" ` +
        `module), or a container was started without the device (docker run --device /dev/net/tun --cap-add NET_ADMIN)`,
    })
  }
  return new TapError({ reason: "Io", errno, message: `cannot open /dev/net/tun: ${errnoName(errno)}` })
}

/** The TapError for a failed `TUNSETIFF`. */
const attachError = (name: string, errno: number): TapError => {
  if (errno === EPERM || errno === EACCES) {
    return new TapError({
      reason: "PermissionDenied",
      errno,
      message: `TUNSETIFF ${name}: ${errnoName(errno)}; creating a TAP device needs CAP_NET_ADMIN (run as root), or ` +
        `create it beforehand for this user: ip tuntap add dev ${name} mode tap user $(id -un)`,
    })
  }
  if (errno === EBUSY) {
    return new TapError({
      reason: "Io",
      errno,
      message: `TUNSETIFF ${name}: ${errnoName(errno)}; another process already has the device open (a TAP made ` +
        `without multi_queue has one reader), or its flags differ`,
    })
  }
  if (errno === EINVAL) {
    return new TapError({
      reason: "Io",
      errno,
      message: `TUNSETIFF ${name}: ${errnoName(errno)}; an interface with that name exists and is not a TAP ` +
        `device (a TUN, a veth, …), or it was made with other flags (e.g. vnet_hdr or multi_queue)`,
    })
  }
  return new TapError({ reason: "Io", errno, message: `TUNSETIFF ${name}: ${errnoName(errno)}` })
}

// ---- the device -----------------------------------------------------------------------------------------------------

const O_RDWR = 0x2
const O_NONBLOCK = 0x800
const O_CLOEXEC = 0x80000
const TUNSETIFF = 0x400454ca
const IFF_TAP = 0x0002
const IFF_NO_PI = 0x1000
const IFNAMSIZ = 16
const IFREQ_SIZE = 40
const DEFAULT_SPIN_ROUNDS = 64
/** Large enough for any frame a TAP can hand out (MTU ≤ 65535 + 14 bytes of header): `read` never truncates. */
const READ_BUFFER_SIZE = 65536 + 14

const encoder = new TextEncoder()
const decoder = new TextDecoder()

const validate = (options: TapOptions): TapError | undefined => {
  const bad = (message: string) => new TapError({ reason: "InvalidConfig", message })
  const name = options.name
  const bytes = typeof name === "string" ? encoder.encode(name) : new Uint8Array(0)
  if (typeof name !== "string" || bytes.length === 0 || bytes.length >= IFNAMSIZ || /[\s/:]/.test(name)) {
    return bad(`TAP name must be 1..15 bytes without spaces, "/" or ":", got ${JSON.stringify(name)}`)
  }
  const mtu = options.mtu ?? 1500
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) {
    return bad(`TAP mtu must be an integer in 68..65535, got ${mtu}`)
  }
  const idle = options.idlePollMillis ?? 1
  if (!Number.isFinite(idle) || idle < 0 || idle > 100) return bad(`idlePollMillis must be in 0..100, got ${idle}`)
  const burst = options.burst ?? 256
  if (!Number.isInteger(burst) || burst < 1) return bad(`burst must be a positive integer, got ${burst}`)
  const spin = options.spinRounds ?? DEFAULT_SPIN_ROUNDS
  if (!Number.isInteger(spin) || spin < 0) return bad(`spinRounds must be a non-negative integer, got ${spin}`)
  return undefined
}

const open = (options: TapOptions): Effect.Effect<TapDevice, TapError, Scope.Scope> =>
  Effect.gen(function* () {
    const invalid = validate(options)
    if (invalid !== undefined) return yield* Effect.fail(invalid)
    const libc = yield* loadLibc
    const mtu = options.mtu ?? 1500
    const idleMillis = options.idlePollMillis ?? 1
    const burst = options.burst ?? 256
    const spinRounds = options.spinRounds ?? DEFAULT_SPIN_ROUNDS
    let closed = false

    const fd = yield* Effect.acquireRelease(
      Effect.suspend(() => {
        const fd = libc.open(encoder.encode("/dev/net/tun\0"), O_RDWR | O_NONBLOCK | O_CLOEXEC)
        return fd < 0 ? Effect.fail(openError(libc.errno())) : Effect.succeed(fd)
      }),
      (fd) =>
        Effect.sync(() => {
          closed = true
          libc.close(fd)
        }),
    )

    const ifr = new Uint8Array(IFREQ_SIZE)
    ifr.set(encoder.encode(options.name))
    new DataView(ifr.buffer).setUint16(16, IFF_TAP | IFF_NO_PI, true)
    if (libc.ioctl(fd, TUNSETIFF, ifr) < 0) return yield* Effect.fail(attachError(options.name, libc.errno()))
    const nul = ifr.indexOf(0)
    const ifname = decoder.decode(ifr.subarray(0, nul < 0 || nul > IFNAMSIZ ? IFNAMSIZ : nul))

    let rxFrames = 0
    let rxBytes = 0
    let txFrames = 0
    let txBytes = 0
    let txErrors = 0
    let rxErrors = 0
    let lastErrno = 0

    // The idle wait: `wake` resumes it early (a frame went out, so an answer is likely to come soon).
    let wake: (() => void) | undefined = undefined
    let spin = 0
    const idle: Effect.Effect<void> = Effect.callback<void>((resume) => {
      let done = false
      const finish = () => {
        if (done) return
        done = true
        wake = undefined
        clearTimeout(handle)
        resume(Effect.void)
      }
      const handle = setTimeout(finish, idleMillis)
      wake = finish
      return Effect.sync(() => {
        done = true
        wake = undefined
        clearTimeout(handle)
      })
    })

    const send = (frame: Uint8Array): boolean => {
      spin = spinRounds
      if (wake !== undefined) wake()
      if (closed) {
        txErrors++
        return false
      }
      const n = libc.write(fd, frame, frame.length)
      if (n === frame.length) {
        txFrames++
        txBytes += n
        return true
      }
      txErrors++
      if (n < 0) lastErrno = libc.errno()
      return false
    }

    const scratch = new Uint8Array(READ_BUFFER_SIZE)
    const receive = (deliver: (frame: Uint8Array) => Effect.Effect<void>): Effect.Effect<void> =>
      Effect.gen(function* () {
        while (!closed) {
          let n = 0
          while (n < burst && !closed) {
            const r = libc.read(fd, scratch, READ_BUFFER_SIZE)
            if (r > 0) {
              n++
              rxFrames++
              rxBytes += r
              yield* deliver(scratch.slice(0, r))
              continue
            }
            if (r === 0) break
            const errno = libc.errno()
            if (errno === EAGAIN) break
            if (errno === EINTR) continue
            rxErrors++
            lastErrno = errno
            const gone = errno === EBADFD || errno === EIO || errno === ENODEV
            return yield* Effect.logWarning(
              `vnetif tap ${ifname}: read failed with ${errnoName(errno)}${
                gone ? " (the device was deleted, e.g. with its network namespace)" : ""
              }; the receive loop stops`,
            )
          }
          if (n > 0) {
            spin = spinRounds
            yield* Effect.yieldNow
          } else if (spin > 0) {
            spin--
            yield* Effect.yieldNow
          } else {
            yield* idle
          }
        }
      })

    const stats: Effect.Effect<TapStats> = Effect.sync(() => ({
      rxFrames,
      rxBytes,
      txFrames,
      txBytes,
      txErrors,
      rxErrors,
      lastErrno,
    }))

    return { name: `tap ${ifname}`, ifname, fd, mtu, send, receive, stats }
  })

const attach = (options: TapOptions): Effect.Effect<TapUplink, TapError | BackendError, Backend | Scope.Scope> =>
  Effect.gen(function* () {
    const device = yield* open(options)
    const uplink = yield* Uplink.attach(device)
    return { ...uplink, device }
  })

const make = (options: TapNetworkOptions): Effect.Effect<TapNetwork, TapError | BackendError, Scope.Scope> =>
  Effect.gen(function* () {
    const sw: BackendShape = yield* Switch.make(options.switch)
    const backend = options.macPrefix === undefined ? sw : yield* Uplink.withMacPrefix(sw, options.macPrefix)
    const uplink = yield* Effect.provideService(attach(options), Backend, backend)
    return { backend, uplink }
  })

const layer = (options: TapNetworkOptions): Layer.Layer<Backend, TapError | BackendError> =>
  Layer.effect(Backend, Effect.map(make(options), (net) => net.backend))

/** The TAP uplink; see the module docs. */
export const Tap: {
  /** Opens (or creates) the TAP device `options.name`; it is closed when the Scope closes. */
  readonly open: (options: TapOptions) => Effect.Effect<TapDevice, TapError, Scope.Scope>
  /** Opens the device and bridges it to a new port of the context's Backend (e.g. a Switch with local ports). */
  readonly attach: (options: TapOptions) => Effect.Effect<TapUplink, TapError | BackendError, Backend | Scope.Scope>
  /** A new Switch whose port 0 is the TAP uplink; returns the Backend and the uplink. */
  readonly make: (options: TapNetworkOptions) => Effect.Effect<TapNetwork, TapError | BackendError, Scope.Scope>
  /** `make` as a Layer providing the Backend (build stacks with `checksum: "all"` on it). */
  readonly layer: (options: TapNetworkOptions) => Layer.Layer<Backend, TapError | BackendError>
  /** The TAP uplink's counters: `uplink.stats` (bridge side) and `uplink.device.stats` (device side). */
  readonly stats: (uplink: TapUplink) => Effect.Effect<{ readonly uplink: UplinkStats; readonly device: TapStats }>
} = {
  open,
  attach,
  make,
  layer,
  stats: (uplink) => Effect.zipWith(uplink.stats, uplink.device.stats, (u, d) => ({ uplink: u, device: d })),
}
