/**
 * The shape of an attack case of bench/attack.ts (what it runs, what is measured around it, how it is judged) and the
 * helpers the cases share: counter deltas, the prober around a flood, hping3.
 *
 * @module
 */
import type { AfterProbes, DuringProbes, Lab, ProcSample, StackCounters, TapCounters } from "./lab.ts"
import { OURS, prober, sleep } from "./lab.ts"

/** Options every case gets. */
export interface CaseOptions {
  /** Length of a flood or a hold, seconds. */
  readonly seconds: number
  /** Smaller counts (connections, senders) for a short run. */
  readonly quick: boolean
}

/** What an attack did and saw. */
export interface AttackResult {
  /** Attack packets (or connections) sent, as the tool reported. */
  readonly sent: number
  /** The unit of `sent`. */
  readonly unit: "pkts" | "conns"
  /** What the legitimate clients saw during the attack (floods and holds). */
  readonly during?: DuringProbes
  /** Case-specific observations. */
  readonly data: Readonly<Record<string, unknown>>
}

/** A snapshot of the stack process and its counters. */
export interface Snapshot {
  /** RSS and CPU. */
  readonly proc: ProcSample
  /** The stack's counters (undefined when it did not answer SIGUSR2 in time). */
  readonly stats: StackCounters | undefined
  /** The kernel side's TAP counters. */
  readonly tap: TapCounters
}

/** Everything measured around one attack. */
export interface Measurement {
  /** Before the attack. */
  readonly before: Snapshot
  /** RSS/CPU when the attack ended. */
  readonly attackEnd: ProcSample
  /** After the settle time, before the after-probes. */
  readonly after: Snapshot
  /** The largest RSS sampled (every 100 ms) from before the attack to the "after" snapshot. */
  readonly peakRss: number
  /** Whether the stack process was still running after the settle time. */
  readonly alive: boolean
  /** The after-attack probes (undefined when the process was gone). */
  readonly probes: AfterProbes | undefined
  /** When an after-probe failed: seconds from the end of the attack until `curl /` was served again (undefined: not within the recovery bound, or not measured). */
  readonly recoveredAfter?: number | undefined
}

/** Whether the reported behaviour is still there. */
export interface Finding {
  /** REPRODUCES: the behaviour is seen; FIXED: it is not; UNCLEAR: the check could not decide. */
  readonly status: "REPRODUCES" | "FIXED" | "UNCLEAR"
  /** The figures behind the status. */
  readonly detail: string
}

/** One attack case. */
export interface AttackCase {
  /** Its id for `--only`. */
  readonly id: string
  /** What it sends. */
  readonly attack: string
  /** What "REPRODUCES" means (the finding). */
  readonly finding: string
  /** Lab options: drop the kernel's RSTs; extra kernel addresses. */
  readonly lab?: { readonly dropKernelRsts?: boolean; readonly extraAddresses?: ReadonlyArray<string> }
  /** Counters (`layer.name`) whose increase shows the attack reached the stack. */
  readonly evidence: ReadonlyArray<string>
  /** Runs the attack. */
  readonly run: (lab: Lab, o: CaseOptions) => Promise<AttackResult>
  /** Judges the finding. */
  readonly judge: (m: Measurement, r: AttackResult, o: CaseOptions) => Finding
}

/** Bytes in a MiB. */
export const MiB = 1024 * 1024

/** The increase of a counter (`layer.name`, or `device.name` / `http.name`), undefined when unknown. */
export const delta = (m: Measurement, key: string): number | undefined => {
  const [layer, name] = key.split(".")
  const pick = (s: StackCounters | undefined): number | undefined => {
    if (s === undefined) return undefined
    if (layer === "device") return s.device[name]
    if (layer === "http") return s.http[name]
    return s.layers[layer]?.[name]
  }
  const a = pick(m.before.stats)
  const b = pick(m.after.stats)
  return a === undefined || b === undefined ? undefined : b - a
}

/** Bytes as whole MiB. */
export const mib = (bytes: number): string => `${(bytes / MiB).toFixed(0)} MiB`
/** CPU seconds the stack used from the "before" snapshot to the end of the attack. */
export const cpuDuring = (m: Measurement): number => m.attackEnd.cpu - m.before.proc.cpu
/** REPRODUCES when `reproduces`, else FIXED. */
export const status = (reproduces: boolean, detail: string): Finding => ({
  status: reproduces ? "REPRODUCES" : "FIXED",
  detail,
})

/** Runs `flood` while probing every second. */
export const withProber = async (
  lab: Lab,
  flood: () => Promise<{ sent: number; data: Record<string, unknown> }>,
  unit: "pkts" | "conns",
): Promise<AttackResult> => {
  const p = prober(lab)
  let r: { sent: number; data: Record<string, unknown> }
  try {
    r = await flood()
  } catch (e) {
    await p.stop()
    throw e
  }
  return { sent: r.sent, unit, during: await p.stop(), data: r.data }
}

/** An hping3 flood for `seconds`; returns the packets it sent (its statistics on SIGINT). */
export const hping3 = async (lab: Lab, args: ReadonlyArray<string>, seconds: number) => {
  const r = await lab.exec(["hping3", ...args, OURS], seconds)
  const sent = Number(/(\d+) packets transmitted/.exec(r.stdout + r.stderr)?.[1] ?? "0")
  return { sent, data: {} }
}

/** A quiet observation window with probes, after a single-packet attack. */
export const observe = async (lab: Lab, seconds: number): Promise<DuringProbes> => {
  const p = prober(lab)
  await sleep(seconds * 1000)
  return await p.stop()
}

/** The data segments a snippet reported. */
export const segmentsOf = (list: unknown): Array<Record<string, number>> =>
  (list ?? []) as Array<Record<string, number>>
