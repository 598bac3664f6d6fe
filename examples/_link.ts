/**
 * The link under the examples' stacks, built from command-line flags: a Switch, optionally a pcap capture of the
 * wire (`--pcap FILE`), optionally an Impairment with loss (`--loss P` percent), one-way delay (`--delay MS`, each
 * direction: the round trip is twice it) and rate shaping (`--rate MBIT` Mbit/s per sending port, i.e. each
 * direction, with the default bandwidth × delay queue). Used by `examples/iperf.ts` and `examples/lossy.ts`.
 *
 * @module
 */
import * as Layer from "effect/Layer"
import type { Backend } from "../src/link/Backend.ts"
import { Capture, type CaptureError, type PacketCapture } from "../src/link/middleware/Capture.ts"
import type { BackendError } from "../src/link/Backend.ts"
import { Impairment, type ImpairmentSpec } from "../src/link/middleware/Impairment.ts"
import { Switch } from "../src/link/Switch.ts"

/** What the link flags asked for (absent or 0: off). */
export interface LinkFlags {
  /** Percent of frames lost (uniform), 0..100. */
  readonly lossPercent?: number | undefined
  /** One-way delay in milliseconds (each direction). */
  readonly delayMs?: number | undefined
  /** Link rate in Mbit/s (each direction). */
  readonly rateMbit?: number | undefined
  /** Path of a pcap file recording the wire. */
  readonly pcap?: string | undefined
  /** Seed of the impairment's generators (default: drawn from Random). */
  readonly seed?: number | undefined
}

/** The impairment spec of the flags, or undefined when they ask for none. */
export const impairmentOf = (f: LinkFlags): ImpairmentSpec | undefined => {
  const spec: ImpairmentSpec = {
    ...((f.lossPercent ?? 0) > 0 ? { loss: { probability: f.lossPercent! / 100 } } : {}),
    ...((f.delayMs ?? 0) > 0 ? { delay: { latency: f.delayMs! } } : {}),
    ...((f.rateMbit ?? 0) > 0 ? { rate: { bitsPerSecond: f.rateMbit! * 1e6 } } : {}),
    ...(f.seed === undefined ? {} : { seed: f.seed }),
  }
  return Object.keys(spec).filter((k) => k !== "seed").length === 0 ? undefined : spec
}

/** A short description of the link, e.g. "100 Mbit/s, 20 ms RTT, 1% loss". */
export const describeLink = (f: LinkFlags): string => {
  const parts: Array<string> = []
  if ((f.rateMbit ?? 0) > 0) parts.push(`${f.rateMbit} Mbit/s`)
  if ((f.delayMs ?? 0) > 0) parts.push(`${2 * f.delayMs!} ms RTT`)
  if ((f.lossPercent ?? 0) > 0) parts.push(`${f.lossPercent}% loss`)
  return parts.length === 0 ? "unimpaired" : parts.join(", ")
}

/** Switch ← capture (if `pcap`) ← impairment (if any): the Backend for `Stack.make`. */
export const linkLayer = (f: LinkFlags): Layer.Layer<Backend, BackendError | CaptureError> => {
  const sw = Switch.layer()
  // The capture keeps the first 128 bytes of each frame: every header, a little payload, small files.
  const captured: Layer.Layer<Backend | PacketCapture, CaptureError> | Layer.Layer<Backend> = f.pcap === undefined
    ? sw
    : Layer.provide(Capture.layer(f.pcap, { snapLen: 128 }), sw)
  const spec = impairmentOf(f)
  return spec === undefined ? captured : Impairment.layer(spec).pipe(Layer.provide(captured))
}
