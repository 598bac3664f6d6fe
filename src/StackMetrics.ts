/**
 * Per-stack observability: every protocol layer's counters (Ethernet, ARP, IPv4, ICMP, UDP, TCP) as Effect
 * `Metric`s, and a {@link StackStats} snapshot a person can print — the stack-side companion of `LinkMetrics`.
 *
 * Off the hot path: the layers already count in plain numbers (their `stats`); `StackMetrics.snapshot(stack)` only
 * reads them, and `StackMetrics.publisher(stack, name)` gives a `publish` effect that reads a snapshot and moves the
 * Effect metrics forward by the difference since its previous call (call it on an interval, e.g.
 * `Effect.repeat(publish, Schedule.spaced("1 second"))`, and once at the end). Metrics:
 * - `vnetif_stack_events_total{stack, layer, counter}`: every monotonic counter (segments, datagrams, drops by
 *   reason: `badChecksum`, `malformed`, `noPort`, `queueOverflows`, `noConnection`, …; TCP `activeOpens` and
 *   `passiveOpens` are the connections opened);
 * - `vnetif_stack_gauge{stack, layer, counter}`: the current values (TCP `connections`, `timerEntries` and
 *   `listeners`, ARP `queued`).
 * Per-connection counters (retransmits, timeouts) live on each `TcpConnection.stats`; a program that wants them as
 * metrics publishes them the same way.
 *
 * @module
 */
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type { StackHandle } from "./Stack.ts"
import { Ipv4Address } from "./wire/Ipv4Address.ts"

/** Every layer's counters of one stack (numbers only). */
export interface StackStats {
  /** The stack's address, dotted quad. */
  readonly address: string
  /** Counters by layer (`ethernet`, `arp`, `ipv4`, `icmp`, `udp`, `tcp`), then by counter name. */
  readonly layers: Readonly<Record<string, Readonly<Record<string, number>>>>
}

/** Counters that are current values, not running totals. */
const GAUGES: ReadonlySet<string> = new Set(["connections", "timerEntries", "listeners", "queued"])

const events: Metric.Counter<number> = Metric.counter("vnetif_stack_events_total", {
  description: "Events counted by a protocol layer of a stack (packets, drops by reason, opens)",
  incremental: true,
})
const gauge: Metric.Gauge<number> = Metric.gauge("vnetif_stack_gauge", {
  description: "Current values of a protocol layer of a stack (connections, listeners, queued frames)",
})

/** The Effect metrics that a publisher updates. */
export const StackMetricKeys: {
  /** `vnetif_stack_events_total{stack, layer, counter}`. */
  readonly events: Metric.Counter<number>
  /** `vnetif_stack_gauge{stack, layer, counter}`. */
  readonly gauge: Metric.Gauge<number>
} = { events, gauge }

const numbersOf = (o: object): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(o)) if (typeof v === "number") out[k] = v
  return out
}

const snapshot = (stack: StackHandle): Effect.Effect<StackStats> =>
  Effect.gen(function* () {
    return {
      address: Ipv4Address.format(stack.address),
      layers: {
        ethernet: numbersOf(yield* stack.ethernet.stats),
        arp: numbersOf(yield* stack.arp.stats),
        ipv4: numbersOf(yield* stack.ipv4.stats),
        icmp: numbersOf(yield* stack.icmp.stats),
        udp: numbersOf(yield* stack.udp.stats),
        tcp: numbersOf(yield* stack.tcp.stats),
      },
    }
  })

const publisher = (stack: StackHandle, name?: string): Effect.Effect<StackStats> => {
  const stackName = name ?? Ipv4Address.format(stack.address)
  const last = new Map<string, number>()
  return Effect.gen(function* () {
    const s = yield* snapshot(stack)
    const updates: Array<Effect.Effect<void>> = []
    for (const [layer, counters] of Object.entries(s.layers)) {
      for (const [counter, value] of Object.entries(counters)) {
        const attributes = { stack: stackName, layer, counter }
        if (GAUGES.has(counter)) {
          updates.push(Metric.update(Metric.withAttributes(gauge, attributes), value))
          continue
        }
        const key = `${layer}/${counter}`
        const prev = last.get(key) ?? 0
        const delta = value >= prev ? value - prev : value // a reset starts a new epoch
        last.set(key, value)
        if (delta > 0) updates.push(Metric.update(Metric.withAttributes(events, attributes), delta))
      }
    }
    yield* Effect.all(updates, { discard: true })
    return s
  })
}

const format = (s: StackStats): string => {
  const lines = [`stack ${s.address}`]
  for (const [layer, counters] of Object.entries(s.layers)) {
    const nonZero = Object.entries(counters).filter(([, v]) => v !== 0).map(([k, v]) => `${k} ${v}`)
    lines.push(`  ${layer.padEnd(8)} ${nonZero.length === 0 ? "-" : nonZero.join(", ")}`)
  }
  return lines.join("\n")
}

/** Per-stack counters: a snapshot, a publisher of Effect metrics, and a printable table. */
export const StackMetrics: {
  /** Reads every layer's counters now. */
  readonly snapshot: (stack: StackHandle) => Effect.Effect<StackStats>
  /** An effect that publishes the counters' increase since its previous run (attribute `stack`: `name` or address). */
  readonly publisher: (stack: StackHandle, name?: string) => Effect.Effect<StackStats>
  /** The snapshot as a few readable lines (non-zero counters only). */
  readonly format: (stats: StackStats) => string
} = { snapshot, publisher, format }
