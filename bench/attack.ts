/**
 * The attacker's measurement of issue 15 ("Hostile traffic"): each finding of the issue replayed against
 * `examples/tap.ts` over a TAP, as its reporter did (hping3, scapy, nmap, curl from a network namespace), with
 * figures and a verdict per case and runtime.
 *
 * Run as root (network namespaces, TAP, raw sockets), from the repository root:
 * ```sh
 * npx bun bench/attack.ts                  # or: npx deno run -A bench/attack.ts
 * npx bun bench/attack.ts --quick --only land,syn-flood --runtime deno
 * ```
 * Needs (Debian): `apt-get install iproute2 iputils-ping curl hping3 nmap python3-scapy nftables`. scapy runs with
 * `/usr/bin/python3`. Which runtime runs this harness does not matter; `--runtime` picks the stack's. Without root or
 * one of those tools it prints what is missing and exits 0 (as the kernel-interop tests skip); it exits 1 when a case
 * could not run (an ERROR row: the harness, not the stack, failed). Verdicts and findings never change the exit code.
 *
 * Options:
 * - `--runtime bun|deno|bun,deno` — the runtime(s) of the stack under attack (default `bun,deno`);
 * - `--only a,b` — a subset of the cases (ids below; default all);
 * - `--seconds N` — length of each flood / observation / hold (default 10; `--quick`: 3);
 * - `--quick` — the smoke run (CI runs `bun run bench/attack.ts --quick` within 120 s): 3 s windows, smaller counts
 *   (300 OOO connections, 500 stalled downloads, 200 slowloris connections, 2 000 ARP senders), a 5 s recovery watch,
 *   and — unless `--only` / `--runtime` say otherwise — five cases (land, syn-fin, syn-burst, udp-flood, slowloris)
 *   on the harness's own runtime; `--quick --only a,b --runtime bun,deno` is a short run of anything. Not for figures;
 * - `--recovery N` — when an after-probe fails, how long to keep trying `curl /` (once a second) to report when real
 *   clients were served again, seconds from the end of the attack (default 40; `--quick`: 5);
 * - `--json FILE` — also write every result (figures, counters, verdicts) as JSON;
 * - `--list` — print the cases and what each one checks, then exit.
 *
 * Each case runs in a lab of its own (bench/attack/lab.ts): a fresh namespace `vn-<pid>-<n>` with the kernel end of a
 * TAP (10.99.0.1/24: the attacker and the legitimate clients), `examples/tap.ts` on it (10.99.0.2/24, gateway
 * 10.99.0.1, every service: HTTP 80, UDP echo 7, ping), warmed up by a ping and a curl. The harness then
 * 1. takes the "before" snapshot: RSS and CPU seconds of the stack process (`/proc/<pid>/status`, `/proc/<pid>/stat`),
 *    its counters (`tap: stats` line on SIGUSR2) and the kernel side's TAP counters;
 * 2. runs the attack with a hard time bound (every tool under `timeout`), and for floods and holds probes as a
 *    legitimate client once a second (one ping with a 1 s wait, one `curl /` with a 2 s bound);
 * 3. waits 2 s (settle), then takes the "after" snapshot (RSS, CPU, the stack's and the TAP's counters) and runs the
 *    after-probes: 3 pings, `curl /` (3 s bound), a 1 MB download checked by SHA-256 (10 s bound; skipped when
 *    `curl /` failed), a UDP echo (2 s); when one fails, it retries `curl /` once a second (`--recovery`) and reports
 *    when it was served again;
 * 4. deletes the lab (also on failure and on SIGINT/SIGTERM) and judges. A finding is UNCLEAR when fewer than half
 *    of the attack's packets went into the TAP (the attack did not reach the stack).
 *
 * Verdict (availability, the same rules for every case):
 * - DOWN: the stack process died, or its RSS peaked above 1 GiB, or any after-probe failed (3/3 pings, `curl /` 200,
 *   1 MB byte-exact, UDP echo) — real clients are not served 2 s after the attack stopped;
 * - DEGRADED: the after-probes pass, but during the attack fewer than 90% of the pings or of the curls succeeded, or
 *   RSS after the settle time is more than 64 MiB above before (retained), or the stack still used more than half a
 *   core during the settle time;
 * - OK: none of that.
 * Finding (the issue's specific behaviour, per case; `--list` states each criterion): REPRODUCES, FIXED, or UNCLEAR
 * (the check could not decide, e.g. a control packet went unanswered too).
 *
 * "attack → stack" shows that the attack reached the stack: packets (or connections) the tool sent → frames the
 * kernel queued into the TAP during the case (all traffic, probes included) and, in brackets, frames it dropped
 * because the stack did not read them in time → frames the stack read (its device counter). The findings section
 * adds each case's evidence counters of the stack (e.g. `ipv4.badSource +1`).
 *
 * Traffic stays inside the namespaces this harness creates; spoofed sources are 10.99.0.0/24 addresses, martians
 * (127.0.0.1, broadcast), 198.18.0.0/15 (benchmark range) and 10.98.0.0/16, all on the lab's TAP only.
 *
 * @module
 */
import "../src/util/NoAsyncContext.ts"
import { spawnSync } from "node:child_process"
import { existsSync, writeFileSync } from "node:fs"
import { loadavg } from "node:os"
import { join } from "node:path"
import { needs, ROOT, RUNTIME } from "../tests/interop/_netns.ts"
import { type AttackCase, type AttackResult, delta, type Finding, type Measurement } from "./attack/case.ts"
import { CASES } from "./attack/cases.ts"
import {
  afterProbes,
  closeAllLabs,
  closeAllLabsSync,
  openLab,
  recovery,
  type Runtime,
  sampleNow,
  sampler,
  sleep,
} from "./attack/lab.ts"

const argv: ReadonlyArray<string> = process.argv.slice(2)
const opt = (name: string): string | undefined => {
  const i = argv.indexOf(`--${name}`)
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : undefined
}
const flag = (name: string): boolean => argv.includes(`--${name}`)

const quick = flag("quick")
const seconds = Number(opt("seconds") ?? (quick ? 3 : 10))
const runtimes = (opt("runtime") ?? (quick ? (RUNTIME === "deno" ? "deno" : "bun") : "bun,deno"))
  .split(",").map((s) => s.trim()) as Array<Runtime>
/** The cases of the smoke run (`--quick` without `--only`): one of each kind of attack the harness drives. */
const QUICK_CASES = ["land", "syn-fin", "syn-burst", "udp-flood", "slowloris"]
const only = opt("only")?.split(",").map((s) => s.trim()) ?? (quick ? QUICK_CASES : undefined)
const jsonFile = opt("json")
const recoverySeconds = Number(opt("recovery") ?? (quick ? 5 : 40))
const SETTLE_MS = 2_000
const MiB = 1024 * 1024

/** One row of the table. */
interface Row {
  readonly case: string
  readonly runtime: Runtime
  readonly verdict: "OK" | "DEGRADED" | "DOWN" | "ERROR"
  readonly why: string
  readonly finding: Finding
  readonly result?: AttackResult
  readonly measurement?: Measurement
  readonly evidence: string
}

/** The availability verdict (see the module docs). */
const verdictOf = (m: Measurement, r: AttackResult): { verdict: Row["verdict"]; why: string } => {
  if (!m.alive) return { verdict: "DOWN", why: "the stack process exited" }
  if (m.peakRss > 1024 * MiB) return { verdict: "DOWN", why: `RSS peaked at ${(m.peakRss / MiB).toFixed(0)} MiB` }
  const p = m.probes!
  const failed = [
    p.ping < 3 ? `ping ${p.ping}/3` : "",
    p.curl.ok ? "" : `curl / ${p.curl.status}`,
    p.mb.ok ? "" : `1 MB ${p.mb.status}`,
    p.udp ? "" : "UDP echo unanswered",
  ].filter((s) => s !== "")
  if (failed.length > 0) {
    const back = m.recoveredAfter === undefined
      ? `not served again within ${recoverySeconds} s of the attack's end`
      : `served again ${m.recoveredAfter.toFixed(0)} s after the attack's end`
    return { verdict: "DOWN", why: `after the attack: ${failed.join(", ")}; ${back}` }
  }
  const why: Array<string> = []
  const d = r.during
  if (d !== undefined && d.pingTotal > 0 && d.pingOk < 0.9 * d.pingTotal) {
    why.push(`ping ${d.pingOk}/${d.pingTotal} during`)
  }
  if (d !== undefined && d.curlTotal > 0 && d.curlOk < 0.9 * d.curlTotal) {
    why.push(`curl ${d.curlOk}/${d.curlTotal} during`)
  }
  const retained = m.after.proc.rss - m.before.proc.rss
  if (retained > 64 * MiB) why.push(`RSS +${(retained / MiB).toFixed(0)} MiB retained`)
  const settleCpu = m.after.proc.cpu - m.attackEnd.cpu
  if (settleCpu > 0.5 * (SETTLE_MS / 1000)) why.push(`still ${settleCpu.toFixed(1)} CPU s in the 2 s after`)
  return why.length > 0 ? { verdict: "DEGRADED", why: why.join(", ") } : { verdict: "OK", why: "" }
}

/** Runs one case under one runtime in a lab of its own. */
const runCase = async (c: AttackCase, runtime: Runtime): Promise<Row> => {
  const lab = await openLab({ runtime, lifetime: 300 + 3 * seconds, ...c.lab })
  try {
    const s = sampler(lab.pid)
    const before = { proc: sampleNow(lab), stats: await lab.stats(), tap: await lab.tap() }
    let result: AttackResult
    try {
      result = await c.run(lab, { seconds, quick })
    } catch (e) {
      s.stop()
      return errorRow(c, runtime, e)
    }
    const attackEnd = sampleNow(lab)
    const endedAt = Date.now()
    await sleep(SETTLE_MS)
    const after = { proc: sampleNow(lab), stats: await lab.stats(5_000), tap: await lab.tap() }
    const peakRss = s.peak()
    s.stop()
    const alive = lab.alive()
    const probes = alive ? await afterProbes(lab) : undefined
    const failed = probes !== undefined && (probes.ping < 3 || !probes.curl.ok || !probes.mb.ok || !probes.udp)
    const recoveredAfter = failed ? await recovery(lab, endedAt, recoverySeconds) : undefined
    const m: Measurement = { before, attackEnd, after, peakRss, alive, probes, recoveredAfter }
    const { verdict, why } = verdictOf(m, result)
    const tapIn = after.tap.toStack + after.tap.toStackDropped - before.tap.toStack - before.tap.toStackDropped
    const reached = result.unit !== "pkts" || tapIn >= result.sent / 2
    const evidence = c.evidence.map((k) => {
      const v = delta(m, k)
      return v === undefined ? "" : `${k} +${v}`
    }).filter((e) => e !== "").join(", ")
    return {
      case: c.id,
      runtime,
      verdict,
      why,
      finding: reached ? c.judge(m, result, { seconds, quick }) : {
        status: "UNCLEAR",
        detail: `the attack did not reach the stack: ${result.sent} packets sent, ${tapIn} into the TAP`,
      },
      result,
      measurement: m,
      evidence: m.after.stats === undefined ? "(no counters: the stack did not answer SIGUSR2)" : evidence,
    }
  } finally {
    await lab.close()
  }
}

const errorRow = (c: AttackCase, runtime: Runtime, e: unknown): Row => ({
  case: c.id,
  runtime,
  verdict: "ERROR",
  why: String(e instanceof Error ? e.message : e).split("\n")[0],
  finding: { status: "UNCLEAR", detail: "the attack failed to run" },
  evidence: "",
})

// ---- output -----------------------------------------------------------------------------------------------------

const fmtMiB = (b: number): string => (b / MiB).toFixed(0)

const cells = (r: Row): Array<string> => {
  const m = r.measurement
  const res = r.result
  if (m === undefined || res === undefined) return [r.case, r.runtime, r.verdict, r.finding.status, "", "", "", "", ""]
  const tapIn = m.after.tap.toStack - m.before.tap.toStack
  const tapDrop = m.after.tap.toStackDropped - m.before.tap.toStackDropped
  const rx = delta(m, "device.rxFrames")
  const d = res.during
  const p = m.probes
  return [
    r.case,
    r.runtime,
    r.verdict,
    r.finding.status,
    `${res.sent} ${res.unit} → ${tapIn}${tapDrop > 0 ? ` (+${tapDrop} dropped)` : ""} → ${rx ?? "?"}`,
    `${fmtMiB(m.before.proc.rss)}→${fmtMiB(m.peakRss)}→${fmtMiB(m.after.proc.rss)}`,
    (m.after.proc.cpu - m.before.proc.cpu).toFixed(1),
    d === undefined ? "-" : `${d.pingTotal > 0 ? `${d.pingOk}/${d.pingTotal} ` : ""}curl ${d.curlOk}/${d.curlTotal}` +
      (d.curlOk > 0 ? ` ≤${d.curlWorst.toFixed(3)}s` : ""),
    p === undefined ? "process gone" : `${p.ping}/3 ${p.curl.ok ? `${p.curl.seconds.toFixed(3)}s` : p.curl.status} ` +
      `${p.mb.ok ? `${p.mb.seconds.toFixed(2)}s` : p.mb.status} ${p.udp ? "udp" : "no-udp"}`,
  ]
}

const HEADER = [
  "case",
  "rt",
  "verdict",
  "finding",
  "attack → TAP → stack (frames)",
  "RSS MiB before→peak→after",
  "CPU s",
  "during: ping curl",
  "after: ping curl 1MB udp",
]

const table = (rows: ReadonlyArray<Array<string>>): string => {
  const widths = HEADER.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)))
  const line = (r: ReadonlyArray<string>) => r.map((c, i) => (c ?? "").padEnd(widths[i])).join("  ").trimEnd()
  return [line(HEADER), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n")
}

const listCases = (): string =>
  CASES.map((c) => `${c.id.padEnd(15)} ${c.attack}\n${"".padEnd(15)} REPRODUCES when: ${c.finding}`).join("\n")

// ---- main -------------------------------------------------------------------------------------------------------

const main = async (): Promise<void> => {
  if (flag("list") || flag("help")) {
    console.log(listCases())
    return
  }
  const skip = needs({ tools: ["ping", "curl", "hping3", "nmap", "nft", "timeout"], tap: false }) ||
    (spawnSync("/usr/bin/python3", ["-c", "import scapy.all"], { stdio: "ignore" }).status !== 0
      ? "needs scapy for /usr/bin/python3"
      : existsSync("/dev/net/tun")
      ? false
      : "needs /dev/net/tun (the TUN/TAP driver)")
  if (skip !== false) {
    console.log(
      `bench/attack.ts: skipped: ${
        skip.replace(/ \(apt-get[^)]*\)/, "")
      } (as root: apt-get install iproute2 iputils-ping curl hping3 nmap ` +
        `python3-scapy nftables)`,
    )
    return
  }
  for (const rt of runtimes) if (rt !== "bun" && rt !== "deno") throw new Error(`--runtime: bun or deno, not ${rt}`)
  const cases = only === undefined ? CASES : CASES.filter((c) => only.includes(c.id))
  const unknown = (only ?? []).filter((id) => !CASES.some((c) => c.id === id))
  if (unknown.length > 0) throw new Error(`unknown case(s) ${unknown.join(", ")}; --list shows them`)
  const load0 = loadavg()
  const t0 = Date.now()
  const git = (...args: Array<string>) => spawnSync("git", ["-C", ROOT, ...args], { encoding: "utf8" }).stdout.trim()
  const versions = runtimes.map((rt) =>
    spawnSync(join(ROOT, "node_modules", ".bin", rt), ["--version"], { encoding: "utf8" }).stdout.split("\n")[0]
  )
  console.log(
    `bench/attack.ts: ${cases.length} case(s) × ${runtimes.join(", ")} (${versions.join(", ")}) at ` +
      `${git("rev-parse", "--short", "HEAD")}${
        git("status", "--porcelain", "--", "src", "examples") ? "+changes" : ""
      }; ` +
      `windows of ${seconds} s${quick ? " (quick)" : ""}; load average ${load0.map((l) => l.toFixed(2)).join(" ")}`,
  )
  const rows: Array<Row> = []
  for (const rt of runtimes) {
    for (const c of cases) {
      const start = Date.now()
      let row: Row
      try {
        row = await runCase(c, rt)
      } catch (e) {
        row = errorRow(c, rt, e)
      }
      rows.push(row)
      console.log(
        `  ${c.id}/${rt}: ${row.verdict}${row.why ? ` (${row.why})` : ""}; finding ${row.finding.status}: ` +
          `${row.finding.detail} [${((Date.now() - start) / 1000).toFixed(0)} s]`,
      )
    }
  }
  console.log("")
  console.log(table(rows.map(cells)))
  console.log("\nFindings and evidence (counter increases of the stack during the case):")
  for (const r of rows) {
    console.log(`  ${`${r.case}/${r.runtime}`.padEnd(20)} ${r.finding.status}: ${r.finding.detail}`)
    if (r.why !== "") console.log(`  ${"".padEnd(20)} ${r.verdict}: ${r.why}`)
    if (r.evidence !== "") console.log(`  ${"".padEnd(20)} evidence: ${r.evidence}`)
  }
  console.log(
    `\nVerdict: DOWN = process died, RSS > 1 GiB, or an after-probe failed 2 s after the attack (3/3 ping, curl / ` +
      `200, 1 MB byte-exact, UDP echo); DEGRADED = < 90% of pings or curls during the attack, RSS +64 MiB ` +
      `retained, or > 0.5 CPU s/s in the 2 s after; OK = neither. Finding criteria: --list.`,
  )
  console.log(
    `Total ${((Date.now() - t0) / 1000).toFixed(0)} s; load average at the end ` +
      `${loadavg().map((l) => l.toFixed(2)).join(" ")}`,
  )
  if (rows.some((r) => r.verdict === "ERROR")) process.exitCode = 1
  if (jsonFile !== undefined) {
    writeFileSync(
      jsonFile,
      JSON.stringify({ seconds, quick, versions, load: [load0, loadavg()], rows }, null, 2),
    )
  }
}

let interrupted = false
const onSignal = (signal: string) => {
  if (interrupted) return
  interrupted = true
  console.error(`bench/attack.ts: ${signal}, deleting the labs`)
  void closeAllLabs().finally(() => process.exit(130))
}
process.once("SIGINT", () => onSignal("SIGINT"))
process.once("SIGTERM", () => onSignal("SIGTERM"))
process.on("exit", closeAllLabsSync)

try {
  await main()
} catch (e) {
  console.error(`bench/attack.ts: ${e instanceof Error ? e.message : String(e)}`)
  process.exitCode = 1
} finally {
  await closeAllLabs()
}
