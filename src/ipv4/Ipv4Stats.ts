/**
 * The counters of the IPv4 layer, as `Ipv4.stats` reports them (a snapshot; `Ipv4.resetStats` zeroes them). Every
 * drop on the receive path has its counter: malformed or badly checksummed headers, datagrams for another host,
 * martian sources (in total and by reason, RFC 1122 §3.2.1.3), unfinished source routes, unknown protocols, and the
 * reassembler's own counters.
 *
 * @module
 */
import type { ReassemblyStats } from "./Reassembly.ts"

/** Counters of the IPv4 layer (a snapshot). */
export interface Ipv4Stats {
  /** Packets received from Ethernet. */
  readonly rxPackets: number
  /** Datagrams handed to a protocol handler. */
  readonly rxDelivered: number
  /** Datagrams sent (each counts once, however many fragments). */
  readonly txDatagrams: number
  /** Frames sent (fragments count one each). */
  readonly txFrames: number
  /** Datagrams that failed to send. */
  readonly txErrors: number
  /** Packets dropped for a bad header checksum. */
  readonly badChecksum: number
  /** Packets dropped as truncated, wrong version or malformed. */
  readonly malformed: number
  /** Packets dropped because they are not addressed to this host. */
  readonly notForUs: number
  /**
   * Packets from the wire dropped for a martian source (RFC 1122 §3.2.1.3): our own address, 127/8, the limited or
   * directed broadcast, 224/4, 240/4, or 0/8 (0.0.0.0 to 255.255.255.255 excepted).
   */
  readonly badSource: number
  /** Of `badSource`: from this host's own address (spoofed; the "land" attack). */
  readonly badSourceOwn: number
  /** Of `badSource`: from loopback 127/8. */
  readonly badSourceLoopback: number
  /** Of `badSource`: from "this network" 0/8 (0.0.0.0 to 255.255.255.255 is not counted: it is valid). */
  readonly badSourceThisNetwork: number
  /** Of `badSource`: from multicast 224/4. */
  readonly badSourceMulticast: number
  /** Of `badSource`: from class E 240/4, the limited broadcast 255.255.255.255 included. */
  readonly badSourceReserved: number
  /** Of `badSource`: from the directed broadcast of our subnet. */
  readonly badSourceBroadcast: number
  /** Packets dropped for an unfinished loose or strict source route (LSRR/SSRR with hops left; RFC 791 §3.1). */
  readonly sourceRouted: number
  /** Datagrams dropped because no handler is registered for their protocol. */
  readonly unknownProtocol: number
  /** Fragments received. */
  readonly fragmentsReceived: number
  /** Datagrams delivered locally (to this host's own address). */
  readonly loopback: number
  /** Local datagrams dropped because the loopback queue was full. */
  readonly loopbackDrops: number
  /** Bytes currently held by the reassembly buffer. */
  readonly reassemblyBytes: number
  /** Datagrams currently being reassembled. */
  readonly reassemblyDatagrams: number
  /** Counters of the reassembler. */
  readonly reassembly: ReassemblyStats
}
