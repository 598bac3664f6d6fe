/**
 * Small helpers every module of the scripted TCP peer shares: bytes, sequence number arithmetic, control bit names,
 * durations, and the labels ({@link Frame}) that print and resolve sequence numbers relative to an ISN.
 *
 * @module
 */
import * as Duration from "effect/Duration"
import { TcpFlags, type TcpRepr } from "../../../src/wire/Tcp.ts"
import type { Flags, Rel, SeqSpec } from "./Types.ts"

const { FIN, SYN } = TcpFlags

const enc = new TextEncoder()
export const EMPTY = new Uint8Array(0)
export const toBytes = (d: Uint8Array | string | undefined): Uint8Array =>
  d === undefined ? EMPTY : typeof d === "string" ? enc.encode(d) : d

export const seqAdd = (a: number, n: number): number => (a + n) >>> 0
export const seqSub = (a: number, b: number): number => (a - b) | 0
export const seqLe = (a: number, b: number): boolean => seqSub(a, b) <= 0
export const seqGt = (a: number, b: number): boolean => seqSub(a, b) > 0

const FLAG_NAMES: ReadonlyArray<readonly [number, string]> = [
  [TcpFlags.SYN, "SYN"],
  [TcpFlags.FIN, "FIN"],
  [TcpFlags.RST, "RST"],
  [TcpFlags.PSH, "PSH"],
  [TcpFlags.ACK, "ACK"],
  [TcpFlags.URG, "URG"],
  [TcpFlags.ECE, "ECE"],
  [TcpFlags.CWR, "CWR"],
]

/** The mask of a {@link Flags} value; an unknown name is a defect of the test. */
export const flagsOf = (f: Flags): number => {
  if (typeof f === "number") return f
  let m = 0
  for (const name of f.split(/[|,+\s]+/)) {
    if (name === "") continue
    const hit = FLAG_NAMES.find(([, n]) => n === name.toUpperCase())
    if (hit === undefined) throw new Error(`TcpPeer: unknown TCP flag "${name}" in "${f}"`)
    m |= hit[0]
  }
  return m
}

/** "SYN|ACK"-style names of a flags byte. */
export const flagNames = (f: number): string =>
  FLAG_NAMES.filter(([b]) => (f & b) !== 0).map(([, n]) => n).join("|") ||
  "none"

export const segLen = (s: TcpRepr): number => s.payload.length + (s.flags & SYN ? 1 : 0) + (s.flags & FIN ? 1 : 0)

export const ms = (d: Duration.Input): number => Duration.toMillis(Duration.fromInputUnsafe(d))

/** How a sequence number is named: relative to an ISN (`IRS+5`) or absolute. */
export interface SeqLabel {
  readonly isn: number | undefined
  readonly name: string
}

export const fmtSeq = (abs: number, l: SeqLabel): string => {
  if (l.isn === undefined) return String(abs >>> 0)
  const d = seqSub(abs, l.isn)
  return d >= 0 ? `${l.name}+${d}` : `${l.name}${d}`
}

/** How to print and resolve the numbers of a segment in one direction. */
export interface Frame {
  /** Labels the segment's seq (and the ISN `rel` refers to). */
  readonly seq: SeqLabel
  /** Labels the segment's ack and SACK blocks. */
  readonly ack: SeqLabel
}

export const ABSOLUTE: Frame = { seq: { isn: undefined, name: "" }, ack: { isn: undefined, name: "" } }

export const resolveSeq = (s: SeqSpec, l: SeqLabel): number | undefined =>
  typeof s === "number" ? s >>> 0 : l.isn === undefined ? undefined : seqAdd(l.isn, s.offset)

export const fmtSpec = (s: SeqSpec, l: SeqLabel): string => {
  const abs = resolveSeq(s, l)
  return abs === undefined ? `rel(${(s as Rel).offset}) (no ISN known)` : fmtSeq(abs, l)
}
