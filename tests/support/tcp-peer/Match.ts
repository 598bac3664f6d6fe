/**
 * The scripted TCP peer's partial segment matcher ({@link mismatches}) and the readable one-line descriptions of
 * segments and matches used in its failure messages.
 *
 * @module
 */
import { TcpFlags, type TcpRepr } from "../../../src/wire/Tcp.ts"
import { flagNames, flagsOf, fmtSeq, fmtSpec, type Frame, resolveSeq, toBytes } from "./Basics.ts"
import type { SegmentMatch } from "./Types.ts"

const { ACK } = TcpFlags

const fmtOptions = (o: TcpRepr["options"], f: Frame): string => {
  const parts: Array<string> = []
  if (o.mss !== undefined) parts.push(`mss=${o.mss}`)
  if (o.windowScale !== undefined) parts.push(`ws=${o.windowScale}`)
  if (o.sackPermitted) parts.push("sackOK")
  if (o.timestamps !== undefined) parts.push(`ts=${o.timestamps.tsVal}/${o.timestamps.tsEcr}`)
  if (o.sackBlocks.length > 0) {
    parts.push(`sack=${o.sackBlocks.map((b) => `${fmtSeq(b.left, f.ack)}-${fmtSeq(b.right, f.ack)}`).join(",")}`)
  }
  return parts.length === 0 ? "" : ` <${parts.join(" ")}>`
}

export const describeWith = (s: TcpRepr, f: Frame): string =>
  `${flagNames(s.flags)} ${s.srcPort}→${s.dstPort} seq=${fmtSeq(s.seqNumber, f.seq)}` +
  (s.flags & ACK || s.ackNumber !== 0 ? ` ack=${fmtSeq(s.ackNumber, f.ack)}` : "") +
  ` win=${s.windowLen} len=${s.payload.length}${fmtOptions(s.options, f)}`

export const describeMatch = (m: SegmentMatch, f: Frame): string => {
  const parts: Array<string> = []
  if (m.flags !== undefined) parts.push(`flags=${flagNames(flagsOf(m.flags))}`)
  if (m.flagsInclude !== undefined) parts.push(`flags⊇${flagNames(flagsOf(m.flagsInclude))}`)
  if (m.flagsExclude !== undefined) parts.push(`flags∌${flagNames(flagsOf(m.flagsExclude))}`)
  if (m.srcPort !== undefined) parts.push(`srcPort=${m.srcPort}`)
  if (m.dstPort !== undefined) parts.push(`dstPort=${m.dstPort}`)
  if (m.seq !== undefined) parts.push(`seq=${fmtSpec(m.seq, f.seq)}`)
  if (m.ack !== undefined) parts.push(`ack=${fmtSpec(m.ack, f.ack)}`)
  if (m.window !== undefined) parts.push(`win=${m.window}`)
  if (m.payload !== undefined) parts.push(`payload=${JSON.stringify(preview(toBytes(m.payload)))}`)
  if (m.payloadLength !== undefined) parts.push(`len=${m.payloadLength}`)
  if (m.options !== undefined) parts.push(`options=${JSON.stringify(m.options)}`)
  return parts.length === 0 ? "any segment" : parts.join(" ")
}

export const preview = (b: Uint8Array): string => {
  const s = new TextDecoder("utf-8", { fatal: false }).decode(b.subarray(0, 32))
  return b.length > 32 ? `${s}… (${b.length} bytes)` : s
}

export const firstDifference = (a: Uint8Array, b: Uint8Array): number => {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return a.length === b.length ? -1 : n
}

/** Why `s` does not match `m` (empty: it matches). */
export const mismatches = (s: TcpRepr, m: SegmentMatch, f: Frame): Array<string> => {
  const out: Array<string> = []
  if (m.flags !== undefined && s.flags !== flagsOf(m.flags)) {
    out.push(`flags ${flagNames(s.flags)} ≠ ${flagNames(flagsOf(m.flags))}`)
  }
  if (m.flagsInclude !== undefined) {
    const want = flagsOf(m.flagsInclude)
    if ((s.flags & want) !== want) out.push(`flags ${flagNames(s.flags)} lack ${flagNames(want & ~s.flags)}`)
  }
  if (m.flagsExclude !== undefined) {
    const bad = s.flags & flagsOf(m.flagsExclude)
    if (bad !== 0) out.push(`flags ${flagNames(s.flags)} have ${flagNames(bad)}`)
  }
  if (m.srcPort !== undefined && s.srcPort !== m.srcPort) out.push(`srcPort ${s.srcPort} ≠ ${m.srcPort}`)
  if (m.dstPort !== undefined && s.dstPort !== m.dstPort) out.push(`dstPort ${s.dstPort} ≠ ${m.dstPort}`)
  if (m.seq !== undefined) {
    const want = resolveSeq(m.seq, f.seq)
    if (want !== s.seqNumber) out.push(`seq ${fmtSeq(s.seqNumber, f.seq)} ≠ ${fmtSpec(m.seq, f.seq)}`)
  }
  if (m.ack !== undefined) {
    const want = resolveSeq(m.ack, f.ack)
    if (want !== s.ackNumber) out.push(`ack ${fmtSeq(s.ackNumber, f.ack)} ≠ ${fmtSpec(m.ack, f.ack)}`)
  }
  if (m.window !== undefined && s.windowLen !== m.window) out.push(`win ${s.windowLen} ≠ ${m.window}`)
  if (m.payloadLength !== undefined && s.payload.length !== m.payloadLength) {
    out.push(`len ${s.payload.length} ≠ ${m.payloadLength}`)
  }
  if (m.payload !== undefined) {
    const want = toBytes(m.payload)
    const i = firstDifference(s.payload, want)
    if (i >= 0) {
      out.push(
        `payload differs at byte ${i} (got ${s.payload.length} bytes ${JSON.stringify(preview(s.payload))}, ` +
          `want ${want.length} bytes ${JSON.stringify(preview(want))})`,
      )
    }
  }
  const o = m.options
  if (o !== undefined) {
    const so = s.options
    const presence = (name: string, want: number | boolean | undefined, got: number | undefined) => {
      if (want === undefined) return
      if (typeof want === "boolean") {
        if (want !== (got !== undefined)) {
          out.push(`${name} ${got === undefined ? "absent" : got} ≠ ${want ? "present" : "absent"}`)
        }
      } else if (got !== want) out.push(`${name} ${got ?? "absent"} ≠ ${want}`)
    }
    presence("mss", o.mss, so.mss)
    presence("windowScale", o.windowScale, so.windowScale)
    if (o.sackPermitted !== undefined && o.sackPermitted !== so.sackPermitted) {
      out.push(`sackPermitted ${so.sackPermitted} ≠ ${o.sackPermitted}`)
    }
    if (o.timestamps !== undefined) {
      const ts = so.timestamps
      if (typeof o.timestamps === "boolean") {
        if (o.timestamps !== (ts !== undefined)) out.push(`timestamps ${ts === undefined ? "absent" : "present"}`)
      } else if (ts === undefined) out.push("timestamps absent")
      else {
        if (o.timestamps.tsVal !== undefined && ts.tsVal !== o.timestamps.tsVal) {
          out.push(`tsVal ${ts.tsVal} ≠ ${o.timestamps.tsVal}`)
        }
        if (o.timestamps.tsEcr !== undefined && ts.tsEcr !== o.timestamps.tsEcr) {
          out.push(`tsEcr ${ts.tsEcr} ≠ ${o.timestamps.tsEcr}`)
        }
      }
    }
    if (o.sackBlocks !== undefined) {
      const got = so.sackBlocks.map((b) => `${fmtSeq(b.left, f.ack)}-${fmtSeq(b.right, f.ack)}`).join(",")
      const want = o.sackBlocks.map(([l, r]) => `${fmtSpec(l, f.ack)}-${fmtSpec(r, f.ack)}`).join(",")
      if (got !== want) out.push(`sack [${got}] ≠ [${want}]`)
    }
  }
  return out
}
