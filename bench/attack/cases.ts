/**
 * The attack cases of bench/attack.ts, in the order they run: the findings of issue 15 ("Hostile traffic"), each as an
 * attack with a time bound and a check of the reported behaviour (bench/attack/packets.ts, bench/attack/floods.ts;
 * their shape in bench/attack/case.ts). `--list` prints them with their criteria.
 *
 * @module
 */
import type { AttackCase } from "./case.ts"
import { floodCase, oooCase, pingFloodCase, slowlorisCase, stalledCase, synBurstCase } from "./floods.ts"
import {
  arpFloodCase,
  arpPoisonCase,
  icmpCodeCase,
  ipIdCase,
  landCase,
  lsrrCase,
  probeCase,
  synBadOptCase,
  synFinCase,
  udpSelfCase,
} from "./packets.ts"

/** Every case, in the order they run. */
export const CASES: ReadonlyArray<AttackCase> = [
  landCase,
  udpSelfCase,
  synFinCase,
  synBadOptCase,
  lsrrCase,
  icmpCodeCase,
  arpPoisonCase,
  arpFloodCase,
  ipIdCase,
  probeCase,
  synBurstCase,
  floodCase(
    "syn-flood",
    "hping3 -S --flood to port 80 from the kernel's address, the kernel's RSTs dropped (real half-open flood)",
    ["-S", "--flood", "-p", "80"],
    ["tcp.segmentsIn", "tcp.passiveOpens", "tcp.segmentsOut"],
    { dropKernelRsts: true },
  ),
  floodCase(
    "syn-flood-rand",
    "hping3 -S --flood --rand-source to port 80 (random spoofed sources)",
    ["-S", "--flood", "--rand-source", "-p", "80"],
    ["tcp.segmentsIn", "tcp.passiveOpens", "ipv4.badSource"],
  ),
  floodCase(
    "udp-flood",
    "hping3 --udp --flood to the echo port 7 (64-byte datagrams)",
    ["--udp", "--flood", "-p", "7", "-d", "64"],
    ["udp.rxDatagrams", "udp.txDatagrams", "udp.queueOverflows"],
  ),
  pingFloodCase,
  oooCase,
  stalledCase,
  slowlorisCase,
]
