/**
 * A tcpdump-like one-line rendering of an Ethernet frame (`tcpdump -e -tt` style), pure and total: it never throws,
 * whatever the bytes. Used by `Trace` (src/link/middleware/Trace.ts), usable on its own (logs, test failures).
 *
 * ```
 * 12.345678 02:50:00:00:00:00 > 02:50:00:00:00:01 IPv4 10.0.0.1 > 10.0.0.2: ICMP echo request id 1 seq 1, length 64
 * 12.345700 02:50:00:00:00:00 > ff:ff:ff:ff:ff:ff ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28
 * 12.346000 02:50:00:00:00:01 > 02:50:00:00:00:00 IPv4 10.0.0.2.80 > 10.0.0.1.49152: Flags [S.], seq 7, ack 1001,
 *           win 65535, options [mss 1460,sackOK,TS val 5 ecr 9,nop,wscale 7], length 0
 * ```
 * (the last line is one line). The timestamp is seconds with microseconds. TCP shows ports, flags (`S` SYN, `F` FIN,
 * `R` RST, `P` PSH, `.` ACK, `U` URG, `E` ECE, `W` CWR), the absolute sequence (`seq a:b` when there is data) and
 * acknowledgment numbers, the raw window, the options and the payload length; UDP its ports and payload length;
 * ICMP its message; ARP request and reply. A fragment, another protocol or a frame that does not parse is shown as
 * such, never an error.
 *
 * @module
 */
import * as Result from "effect/Result"
import { ArpPacket } from "./Arp.ts"
import { EthernetFrame, EtherType } from "./Ethernet.ts"
import { Icmpv4Packet } from "./Icmpv4.ts"
import { Ipv4Address } from "./Ipv4Address.ts"
import { IpProtocol, Ipv4Packet } from "./Ipv4.ts"
import { MacAddress } from "./MacAddress.ts"
import { TcpPacket } from "./Tcp.ts"
import { UdpPacket } from "./Udp.ts"

const mac = (m: MacAddress): string => MacAddress.format(m)
const ip = (a: Ipv4Address): string => Ipv4Address.format(a)

const TCP_FLAG_CHARS: ReadonlyArray<readonly [number, string]> = [
  [0x01, "F"],
  [0x02, "S"],
  [0x04, "R"],
  [0x08, "P"],
  [0x10, "."],
  [0x20, "U"],
  [0x40, "E"],
  [0x80, "W"],
]

const tcpFlags = (flags: number): string => {
  let s = ""
  for (const [bit, ch] of TCP_FLAG_CHARS) if ((flags & bit) !== 0) s += ch
  return s === "" ? "none" : s
}

const r16 = (b: Uint8Array, o: number): number => (b[o] << 8) | b[o + 1]
const r32 = (b: Uint8Array, o: number): number => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0

/** TCP options as tcpdump prints them: `mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7`. */
const tcpOptions = (b: Uint8Array): string => {
  const out: Array<string> = []
  let i = 0
  while (i < b.length) {
    const kind = b[i]
    if (kind === 0) {
      out.push("eol")
      break
    }
    if (kind === 1) {
      out.push("nop")
      i++
      continue
    }
    if (i + 1 >= b.length) {
      out.push(`bad opt ${kind}`)
      break
    }
    const len = b[i + 1]
    if (len < 2 || i + len > b.length) {
      out.push(`bad opt ${kind} len ${len}`)
      break
    }
    if (kind === 2 && len === 4) out.push(`mss ${r16(b, i + 2)}`)
    else if (kind === 3 && len === 3) out.push(`wscale ${b[i + 2]}`)
    else if (kind === 4 && len === 2) out.push("sackOK")
    else if (kind === 5 && (len - 2) % 8 === 0) {
      const blocks: Array<string> = []
      for (let k = i + 2; k + 8 <= i + len; k += 8) blocks.push(`{${r32(b, k)}:${r32(b, k + 4)}}`)
      out.push(`sack ${blocks.length} ${blocks.join("")}`)
    } else if (kind === 8 && len === 10) out.push(`TS val ${r32(b, i + 2)} ecr ${r32(b, i + 6)}`)
    else out.push(`opt-${kind}:${len}`)
    i += len
  }
  return out.join(",")
}

const ICMP_NAMES: Readonly<Record<number, string>> = {
  0: "echo reply",
  3: "unreachable",
  4: "source quench",
  5: "redirect",
  8: "echo request",
  11: "time exceeded",
  12: "parameter problem",
  13: "time stamp request",
  14: "time stamp reply",
}

const UNREACH: Readonly<Record<number, string>> = {
  0: "net",
  1: "host",
  2: "protocol",
  3: "port",
  4: "need to frag",
  13: "admin prohibited",
}

const formatIcmp = (src: Ipv4Address, dst: Ipv4Address, body: Uint8Array): string => {
  const head = `IPv4 ${ip(src)} > ${ip(dst)}: ICMP`
  const parsed = Icmpv4Packet.parse(body)
  if (Result.isFailure(parsed)) return `${head} truncated, length ${body.length}`
  const p = parsed.success
  const type = p.msgType()
  const len = `, length ${body.length}`
  if (type === 0 || type === 8) {
    return `${head} ${ICMP_NAMES[type]} id ${p.echoIdent()} seq ${p.echoSeqNo()}${len}`
  }
  if (type === 3) {
    const what = UNREACH[p.msgCode()] ?? `code ${p.msgCode()}`
    const mtu = p.msgCode() === 4 ? ` (mtu ${p.nextHopMtu()})` : ""
    return `${head} ${what} unreachable${mtu}${len}`
  }
  const name = ICMP_NAMES[type] ?? `type ${type}`
  return `${head} ${name} code ${p.msgCode()}${len}`
}

const formatTcp = (src: Ipv4Address, dst: Ipv4Address, body: Uint8Array): string => {
  const parsed = TcpPacket.parse(body)
  if (Result.isFailure(parsed)) return `IPv4 ${ip(src)} > ${ip(dst)}: TCP truncated, length ${body.length}`
  const t = parsed.success
  const payload = t.payload().length
  const flags = t.flags()
  const seq = t.seqNumber()
  const parts = [`Flags [${tcpFlags(flags)}]`]
  parts.push(payload > 0 ? `seq ${seq}:${(seq + payload) >>> 0}` : `seq ${seq}`)
  if ((flags & 0x10) !== 0) parts.push(`ack ${t.ackNumber()}`)
  parts.push(`win ${t.windowLen()}`)
  if ((flags & 0x20) !== 0) parts.push(`urg ${t.urgentPointer()}`)
  const opts = t.options()
  if (opts.length > 0) parts.push(`options [${tcpOptions(opts)}]`)
  parts.push(`length ${payload}`)
  return `IPv4 ${ip(src)}.${t.srcPort()} > ${ip(dst)}.${t.dstPort()}: ${parts.join(", ")}`
}

const formatUdp = (src: Ipv4Address, dst: Ipv4Address, body: Uint8Array): string => {
  const parsed = UdpPacket.parse(body)
  if (Result.isFailure(parsed)) return `IPv4 ${ip(src)} > ${ip(dst)}: UDP truncated, length ${body.length}`
  const u = parsed.success
  return `IPv4 ${ip(src)}.${u.srcPort()} > ${ip(dst)}.${u.dstPort()}: UDP, length ${u.payload().length}`
}

const formatIpv4 = (payload: Uint8Array): string => {
  const parsed = Ipv4Packet.parse(payload)
  if (Result.isFailure(parsed)) return `IPv4 ${parsed.failure.reason.toLowerCase()}: ${parsed.failure.message}`
  const p = parsed.success
  const src = p.srcAddr()
  const dst = p.dstAddr()
  const body = p.payload()
  const offset = p.fragmentOffset()
  if (offset > 0 || p.moreFragments()) {
    return `IPv4 ${ip(src)} > ${ip(dst)}: proto ${p.protocol()} frag id ${p.identification()} offset ${offset}${
      p.moreFragments() ? "+" : ""
    }, length ${body.length}`
  }
  switch (p.protocol()) {
    case IpProtocol.Icmp:
      return formatIcmp(src, dst, body)
    case IpProtocol.Tcp:
      return formatTcp(src, dst, body)
    case IpProtocol.Udp:
      return formatUdp(src, dst, body)
    default:
      return `IPv4 ${ip(src)} > ${ip(dst)}: ip-proto-${p.protocol()}, length ${body.length}`
  }
}

const formatArp = (payload: Uint8Array): string => {
  const parsed = ArpPacket.parse(payload)
  if (Result.isFailure(parsed)) return `ARP, ${parsed.failure.message}`
  const a = parsed.success
  const op = a.operation()
  if (op === 1) {
    return `ARP, Request who-has ${ip(a.targetProtocolAddr())} tell ${
      ip(a.senderProtocolAddr())
    }, length ${payload.length}`
  }
  if (op === 2) {
    return `ARP, Reply ${ip(a.senderProtocolAddr())} is-at ${mac(a.senderHardwareAddr())}, length ${payload.length}`
  }
  return `ARP, op ${op}, length ${payload.length}`
}

/** One frame as a tcpdump-like line, without the timestamp (never throws, whatever the bytes). */
export const formatFrame = (frame: Uint8Array): string => {
  const parsed = EthernetFrame.parse(frame)
  if (Result.isFailure(parsed)) return `truncated Ethernet frame, length ${frame.length}`
  const e = parsed.success
  const vlan = e.vlanId()
  const head = `${mac(e.srcAddr())} > ${mac(e.dstAddr())}${vlan === undefined ? "" : ` vlan ${vlan}`}`
  const payload = e.payload()
  const type = e.etherType()
  try {
    if (type === EtherType.Ipv4) return `${head} ${formatIpv4(payload)}`
    if (type === EtherType.Arp) return `${head} ${formatArp(payload)}`
    if (type === EtherType.Ipv6) return `${head} IPv6, length ${payload.length}`
  } catch (e) {
    // A guard: the codecs never throw on checked views, but a trace must never take the link down.
    return `${head} undecodable (${String(e)}), length ${frame.length}`
  }
  return `${head} ethertype 0x${type.toString(16).padStart(4, "0")}, length ${payload.length}`
}

/** A Clock timestamp in nanoseconds as `seconds.microseconds` (tcpdump `-tt`). */
export const formatTimestamp = (nanos: bigint): string => {
  const t = nanos < 0n ? 0n : nanos
  const sec = t / 1_000_000_000n
  const usec = (t % 1_000_000_000n) / 1000n
  return `${sec}.${usec.toString().padStart(6, "0")}`
}

/** A whole trace line: timestamp, then the frame. */
export const formatLine = (frame: Uint8Array, nanos: bigint): string =>
  `${formatTimestamp(nanos)} ${formatFrame(frame)}`
