/**
 * Link-layer observability: per-port and per-link counters as Effect `Metric`s, and a `stats` snapshot a person
 * can print.
 *
 * `LinkMetrics.layer(options)` (or `LinkMetrics.wrap(backend, options)`) is a pass-through {@link Backend}
 * middleware. It adds nothing to the hot path: the switch already counts frames, bytes and drops per port in plain
 * numbers (`PortStats`), and the impairment middleware counts its drops by reason. LinkMetrics only *reads* those
 * counters, on demand:
 * - `stats` returns a {@link LinkStats} snapshot (every port, totals, drops by reason); `LinkMetrics.format(stats)`
 *   renders it as a small table.
 * - `publish` reads the same snapshot and moves the Effect `Metric` counters forward by the difference since the
 *   previous publish (counters only ever increase; a `resetPortStats` below starts a new epoch and is not subtracted).
 *   The layer publishes every `interval` (when given, on a fiber of its own, using `Clock`) and once more when its
 *   Scope closes. So the cost is one snapshot per publish, whatever the traffic: no Effect step per frame.
 * - Ports unregistered *through* this middleware keep counting in the totals: their final `PortStats` (returned by
 *   `unregister`) are folded in and published once more. A port unregistered on the backend below directly is only
 *   known up to the last snapshot.
 *
 * Metrics (Effect's `Metric.counter`, with attributes; `link` is `options.name`, default "switch"):
 * - `vnetif_port_frames_total{link, port, direction="rx"|"tx"}`, `vnetif_port_bytes_total{…}`
 * - `vnetif_port_drops_total{link, port, reason="rx_dropped"|"tx_error"|"rx_error"}`
 * - `vnetif_link_frames_total{link, direction}`, `vnetif_link_bytes_total{link, direction}`
 * - `vnetif_link_drops_total{link, reason}`: the port reasons summed, plus every reason a middleware below reports
 *   through {@link LinkDropSource} (the impairment's "partition", "window", "loss", "burst", "small_frame",
 *   "queue").
 *
 * Drop sources: a middleware that drops frames on purpose exposes `dropCounters` (see {@link LinkDropSource}); a
 * transparent middleware (capture, trace, this one) forwards the counters of the backend below with
 * {@link dropCountersOf}, so the counters are found through any stack of layers.
 *
 * @module
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { MacAddress } from "../../wire/MacAddress.ts"
import {
  Backend,
  type BackendError,
  type BackendShape,
  emptyPortStats,
  forwardBackend,
  type PortId,
  portMac,
  type PortStats,
} from "../Backend.ts"

/** A backend (middleware) that reports its own drops, by reason. */
export interface LinkDropSource {
  /** Frames dropped on purpose so far, by reason (cumulative; the names are snake_case). */
  readonly dropCounters: Effect.Effect<Readonly<Record<string, number>>>
}

const NO_DROPS: Effect.Effect<Readonly<Record<string, number>>> = Effect.succeed({})

/** The drop counters reported by `backend` (and what it forwards from below); empty when it reports none. */
export const dropCountersOf = (backend: BackendShape): Effect.Effect<Readonly<Record<string, number>>> => {
  const b = backend as BackendShape & Partial<LinkDropSource>
  return b.dropCounters !== undefined && Effect.isEffect(b.dropCounters) ? b.dropCounters : NO_DROPS
}

/** Adds the counters of `b` into `a` (a new object). */
export const mergeDropCounters = (
  a: Readonly<Record<string, number>>,
  b: Readonly<Record<string, number>>,
): Record<string, number> => {
  const out: Record<string, number> = { ...a }
  for (const k of Object.keys(b)) out[k] = (out[k] ?? 0) + b[k]
  return out
}

/** One port in a {@link LinkStats} snapshot. */
export interface LinkPortStats extends PortStats {
  /** The port number. */
  readonly id: PortId
  /** Its MAC address, formatted. */
  readonly mac: string
  /** Its MTU. */
  readonly mtu: number
}

/** A snapshot of one link (switch): every port, totals and drops by reason. */
export interface LinkStats {
  /** The link's name (the `link` metric attribute). */
  readonly name: string
  /** The ports registered now, by ascending id. */
  readonly ports: ReadonlyArray<LinkPortStats>
  /** Ports unregistered through this middleware (their counters stay in `totals`). */
  readonly retiredPorts: number
  /** Sums over every port, the retired ones included. */
  readonly totals: PortStats
  /** Drops by reason: the port counters (`rx_dropped`, `tx_error`, `rx_error`) and the middleware's own. */
  readonly drops: Readonly<Record<string, number>>
}

/** Options of {@link LinkMetrics}. */
export interface LinkMetricsOptions {
  /** The `link` attribute of every metric and the name in `stats` (default "switch"). */
  readonly name?: string
  /** `LinkMetrics.layer` only: publish the metrics this often (default: only on demand and when the Scope closes). */
  readonly interval?: Duration.Input
}

/** The metrics middleware: the Backend contract plus the snapshot and the publish step. */
export interface LinkMetricsHandle extends BackendShape, LinkDropSource {
  /** A snapshot of every counter. */
  readonly stats: Effect.Effect<LinkStats>
  /** Takes a snapshot and moves the Effect Metric counters forward to it; returns the snapshot. */
  readonly publish: Effect.Effect<LinkStats>
}

/** The service key base of {@link LinkMetricsService}: `Context.Service` with its type spelled out. */
export const LinkMetricsServiceBase: Context.ServiceClass<
  LinkMetricsService,
  "vnetif/LinkMetrics",
  LinkMetricsHandle
> = Context.Service<LinkMetricsService, LinkMetricsHandle>()("vnetif/LinkMetrics")

/** The metrics middleware as a service (provided by `LinkMetrics.layer` beside the Backend it wraps). */
export class LinkMetricsService extends LinkMetricsServiceBase {}

// ---- the Effect metrics --------------------------------------------------------------------------------------------

const portFrames: Metric.Counter<number> = Metric.counter("vnetif_port_frames_total", {
  description: "Frames handed to (rx) or accepted from (tx) a switch port",
  incremental: true,
})
const portBytes: Metric.Counter<number> = Metric.counter("vnetif_port_bytes_total", {
  description: "Bytes of the frames handed to (rx) or accepted from (tx) a switch port",
  incremental: true,
})
const portDrops: Metric.Counter<number> = Metric.counter("vnetif_port_drops_total", {
  description: "Frames dropped at a switch port, by reason",
  incremental: true,
})
const linkFrames: Metric.Counter<number> = Metric.counter("vnetif_link_frames_total", {
  description: "Frames through a link (sum over its ports)",
  incremental: true,
})
const linkBytes: Metric.Counter<number> = Metric.counter("vnetif_link_bytes_total", {
  description: "Bytes through a link (sum over its ports)",
  incremental: true,
})
const linkDrops: Metric.Counter<number> = Metric.counter("vnetif_link_drops_total", {
  description: "Frames dropped on a link, by reason (ports and impairments)",
  incremental: true,
})

/** The Effect metrics that `publish` updates (for reading them back with `Metric.value` + `Metric.withAttributes`). */
export const LinkMetricKeys: {
  /** `vnetif_port_frames_total{link, port, direction}`. */
  readonly portFrames: Metric.Counter<number>
  /** `vnetif_port_bytes_total{link, port, direction}`. */
  readonly portBytes: Metric.Counter<number>
  /** `vnetif_port_drops_total{link, port, reason}`. */
  readonly portDrops: Metric.Counter<number>
  /** `vnetif_link_frames_total{link, direction}`. */
  readonly linkFrames: Metric.Counter<number>
  /** `vnetif_link_bytes_total{link, direction}`. */
  readonly linkBytes: Metric.Counter<number>
  /** `vnetif_link_drops_total{link, reason}`. */
  readonly linkDrops: Metric.Counter<number>
} = { portFrames, portBytes, portDrops, linkFrames, linkBytes, linkDrops }

// ---- the middleware ------------------------------------------------------------------------------------------------

const addStats = (a: PortStats, b: PortStats): PortStats => ({
  rxBytes: a.rxBytes + b.rxBytes,
  rxPackets: a.rxPackets + b.rxPackets,
  txBytes: a.txBytes + b.txBytes,
  txPackets: a.txPackets + b.txPackets,
  rxDrops: a.rxDrops + b.rxDrops,
  rxFlowDrops: a.rxFlowDrops + b.rxFlowDrops,
  txErrors: a.txErrors + b.txErrors,
  rxErrors: a.rxErrors + b.rxErrors,
})

const portDropReasons = (s: PortStats): Record<string, number> => ({
  rx_dropped: s.rxDrops,
  tx_error: s.txErrors,
  rx_error: s.rxErrors,
})

/** One time series: the metric, its attributes, and the value published last. */
interface Series {
  readonly metric: Metric.Metric<number, unknown>
  last: number
}

const wrap = (inner: BackendShape, options?: LinkMetricsOptions): Effect.Effect<LinkMetricsHandle> =>
  Effect.sync(() => {
    const name = options?.name ?? "switch"
    /** Final counters of ports unregistered through us, not yet published. */
    const retiring = new Map<PortId, LinkPortStats>()
    let retiredTotals: PortStats = emptyPortStats
    let retiredPorts = 0
    const retiredIds = new Set<PortId>()
    /** Every series ever published, by key. */
    const series = new Map<string, Series>()

    const seriesOf = (
      key: string,
      metric: Metric.Counter<number>,
      attributes: Record<string, string>,
    ): Series => {
      let s = series.get(key)
      if (s === undefined) {
        s = { metric: Metric.withAttributes(metric, { link: name, ...attributes }), last: 0 }
        series.set(key, s)
      }
      return s
    }

    const livePorts: Effect.Effect<Array<LinkPortStats>> = Effect.flatMap(
      inner.ports,
      (infos) =>
        Effect.forEach(infos, (info) =>
          inner.portStats(info.id).pipe(
            Effect.map((s): LinkPortStats | undefined => ({
              id: info.id,
              mac: MacAddress.format(info.mac),
              mtu: info.mtu,
              ...s,
            })),
            Effect.orElseSucceed(() => undefined),
          )),
    ).pipe(Effect.map((xs) => xs.filter((x): x is LinkPortStats => x !== undefined)))

    const snapshot = (ports: ReadonlyArray<LinkPortStats>, extra: Readonly<Record<string, number>>): LinkStats => {
      let totals = retiredTotals
      for (const p of ports) totals = addStats(totals, p)
      return {
        name,
        ports,
        retiredPorts,
        totals,
        drops: mergeDropCounters(portDropReasons(totals), extra),
      }
    }

    const stats: Effect.Effect<LinkStats> = Effect.gen(function* () {
      const ports = yield* livePorts
      const extra = yield* dropCountersOf(inner)
      return snapshot(ports, extra)
    })

    /** Moves a series to `value`; returns the increase (a value below the last one starts a new epoch). */
    const advance = (s: Series, value: number): number => {
      const delta = value >= s.last ? value - s.last : value
      s.last = value
      return delta
    }

    const publish: Effect.Effect<LinkStats> = Effect.gen(function* () {
      const ports = yield* livePorts
      const extra = yield* dropCountersOf(inner)
      const all = [...ports, ...retiring.values()]
      const updates: Array<readonly [Metric.Metric<number, unknown>, number]> = []
      const linkTotals: Record<string, number> = { rxF: 0, txF: 0, rxB: 0, txB: 0 }
      for (const p of all) {
        const port = String(p.id)
        const pairs: ReadonlyArray<readonly [string, Metric.Counter<number>, Record<string, string>, number, string]> =
          [
            [`f/${port}/rx`, portFrames, { port, direction: "rx" }, p.rxPackets, "rxF"],
            [`f/${port}/tx`, portFrames, { port, direction: "tx" }, p.txPackets, "txF"],
            [`b/${port}/rx`, portBytes, { port, direction: "rx" }, p.rxBytes, "rxB"],
            [`b/${port}/tx`, portBytes, { port, direction: "tx" }, p.txBytes, "txB"],
          ]
        for (const [key, metric, attrs, value, total] of pairs) {
          const d = advance(seriesOf(key, metric, attrs), value)
          linkTotals[total] += d
          if (d > 0) updates.push([series.get(key)!.metric, d])
        }
        for (const [reason, value] of Object.entries(portDropReasons(p))) {
          const key = `d/${port}/${reason}`
          const d = advance(seriesOf(key, portDrops, { port, reason }), value)
          if (d > 0) updates.push([series.get(key)!.metric, d])
        }
      }
      for (
        const [key, metric, attrs, total] of [
          ["lf/rx", linkFrames, { direction: "rx" }, "rxF"],
          ["lf/tx", linkFrames, { direction: "tx" }, "txF"],
          ["lb/rx", linkBytes, { direction: "rx" }, "rxB"],
          ["lb/tx", linkBytes, { direction: "tx" }, "txB"],
        ] as const
      ) {
        const s = seriesOf(key, metric, attrs)
        const d = linkTotals[total]
        s.last += d
        if (d > 0) updates.push([s.metric, d])
      }
      const snap = snapshot(ports, extra)
      for (const [reason, value] of Object.entries(snap.drops)) {
        const s = seriesOf(`ld/${reason}`, linkDrops, { reason })
        // The link total is cumulative over retired ports too, so it never goes back: publish its increase.
        const d = value >= s.last ? value - s.last : 0
        s.last = Math.max(s.last, value)
        if (d > 0) updates.push([s.metric, d])
      }
      retiring.clear()
      yield* Effect.forEach(updates, ([m, d]) => Metric.update(m, d), { discard: true })
      return snap
    })

    const retire = (id: PortId, final: PortStats): Effect.Effect<void> =>
      Effect.flatMap(inner.ports, (infos) =>
        Effect.sync(() => {
          if (infos.some((i) => i.id === id) || retiredIds.has(id)) return
          retiredIds.add(id)
          retiring.set(id, { id, mac: MacAddress.format(portMac(id)), mtu: 0, ...final })
          retiredTotals = addStats(retiredTotals, final)
          retiredPorts++
        }))

    const unregister = (id: PortId): Effect.Effect<PortStats, BackendError> =>
      Effect.tap(inner.unregister(id), (s) => retire(id, s))

    const unregisterAndFlush = (id: PortId, timeout?: Duration.Input): Effect.Effect<PortStats, BackendError> =>
      Effect.tap(inner.unregisterAndFlush(id, timeout), (s) => retire(id, s))

    return forwardBackend(inner, {
      unregister,
      unregisterAndFlush,
      dropCounters: dropCountersOf(inner),
      stats,
      publish,
    })
  })

const make = (options?: LinkMetricsOptions): Effect.Effect<LinkMetricsHandle, never, Backend | Scope.Scope> =>
  Effect.gen(function* () {
    const handle = yield* wrap(yield* Backend, options)
    if (options?.interval !== undefined) {
      const every = Duration.fromInputUnsafe(options.interval)
      yield* Effect.forkScoped(Effect.repeat(Effect.delay(handle.publish, every), Schedule.forever))
    }
    yield* Effect.addFinalizer(() => Effect.asVoid(handle.publish))
    return handle
  })

const layer = (options?: LinkMetricsOptions): Layer.Layer<Backend | LinkMetricsService, never, Backend> =>
  Layer.effectContext(
    Effect.map(make(options), (h) => Context.make(Backend, h).pipe(Context.add(LinkMetricsService, h))),
  )

const pad = (s: string | number, n: number): string => String(s).padStart(n)

const format = (s: LinkStats): string => {
  const head = `${pad("port", 5)}  ${"mac".padEnd(17)}  ${pad("mtu", 5)}  ${pad("rx frames", 10)}  ${
    pad("rx bytes", 12)
  }  ${pad("tx frames", 10)}  ${pad("tx bytes", 12)}  ${pad("rx drops", 8)}  ${pad("tx errs", 7)}  ${pad("rx errs", 7)}`
  const row = (id: string, mac: string, mtu: string, p: PortStats): string =>
    `${pad(id, 5)}  ${mac.padEnd(17)}  ${pad(mtu, 5)}  ${pad(p.rxPackets, 10)}  ${pad(p.rxBytes, 12)}  ${
      pad(p.txPackets, 10)
    }  ${pad(p.txBytes, 12)}  ${pad(p.rxDrops, 8)}  ${pad(p.txErrors, 7)}  ${pad(p.rxErrors, 7)}`
  const lines = [
    `link ${s.name}: ${s.ports.length} port(s)${s.retiredPorts > 0 ? `, ${s.retiredPorts} retired` : ""}`,
    head,
    ...s.ports.map((p) => row(String(p.id), p.mac, String(p.mtu), p)),
    row("total", "", "", s.totals),
  ]
  const drops = Object.entries(s.drops).filter(([, n]) => n > 0)
  lines.push(`drops: ${drops.length === 0 ? "none" : drops.map(([k, n]) => `${k} ${n}`).join(", ")}`)
  return lines.join("\n")
}

/** Link counters as Effect Metrics: `LinkMetrics.layer`, `LinkMetrics.make`, `LinkMetrics.wrap`, `format`. */
export const LinkMetrics: {
  /** Wraps the Backend below it; provides the wrapped Backend and {@link LinkMetricsService}. */
  readonly layer: (options?: LinkMetricsOptions) => Layer.Layer<Backend | LinkMetricsService, never, Backend>
  /** Wraps the context's Backend; publishes every `interval` (if given) and when the Scope closes. */
  readonly make: (options?: LinkMetricsOptions) => Effect.Effect<LinkMetricsHandle, never, Backend | Scope.Scope>
  /** Wraps a Backend value (no periodic publish). */
  readonly wrap: (backend: BackendShape, options?: LinkMetricsOptions) => Effect.Effect<LinkMetricsHandle>
  /** Renders a snapshot as a table, one port a line, then totals and drops. */
  readonly format: (stats: LinkStats) => string
} = { layer, make, wrap, format }
