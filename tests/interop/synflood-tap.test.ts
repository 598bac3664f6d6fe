/**
 * SYN floods from the Linux kernel's side (issue 15): `hping3 -S --flood` for 5 s from a namespace of ours against
 * our stack on a TAP (the lab of `_lab.ts`: the kernel 10.99.0.1, our stack 10.99.0.2 serving HTTP on port 80),
 * while `curl` in the same namespace fetches from our HTTP server again and again. Every curl succeeds during the
 * flood, byte-exact. Two floods:
 * - from the kernel's address (curl uses a second one), with the kernel's RSTs (its answers to SYN-ACKs it never asked for) dropped by
 *   nftables inside the namespace — a true half-open flood, the half-open queue full for the whole run;
 * - from random spoofed sources (`--rand-source`): our stack has no route back to them and drops its SYN-ACKs.
 * The listener's counters show the cookies; its half-open queue stays at its limit; the capture (without the flood's
 * SYNs and SYN-ACKs, which would take tshark minutes) has no bad frame and the kernel's error counters stay zero.
 *
 * @module
 */
import { after, describe, it } from "node:test"
import assert from "node:assert/strict"
import * as Effect from "effect/Effect"
import { bodySha256, httpHandler, httpServerStats } from "../../examples/_http.ts"
import { assertClean, KERNEL, type Lab, OURS, withTapLab } from "./_lab.ts"
import { announceSkip, cleanupAll, needs, RUNTIME } from "./_netns.ts"

const SKIP = needs({ tools: ["tshark", "ping", "nstat", "curl", "hping3", "nft", "sha256sum", "timeout"], tap: true })
announceSkip("synflood-tap.test.ts", SKIP)
after(cleanupAll)

const FLOOD_SECONDS = 5
/** The kernel's second address, curl's (hping3 uses the first, 10.99.0.1). */
const CURL_FROM = "10.99.0.3"
const BODY = 100_000
/** Captures everything but the flood: no SYN to port 80 and no SYN-ACK from it (curl's handshakes go too). */
const NOT_THE_FLOOD = "not (tcp dst port 80 and tcp[13] == 2) and not (tcp src port 80 and tcp[13] == 18)"

interface FloodResult {
  readonly hping: string
  /** Curls started during the flood. */
  readonly curls: number
  /** Of those, the ones that also ended before the flood did. */
  readonly endedDuringFlood: number
  readonly failed: ReadonlyArray<string>
  readonly worstMs: number
  readonly listener: {
    readonly synCookiesSent: number
    readonly synCookiesOk: number
    readonly synsAccepted: number
    readonly halfOpen: number
  }
  readonly maxHalfOpen: number
  readonly segmentsIn: number
}

/**
 * Runs `hping3 -S --flood -p 80 OURS …extra` for FLOOD_SECONDS while curl fetches in a loop: every curl started while
 * the flood runs must get the whole body (curl retransmits its SYN after 1, 3, 7 s when the flood, faster than our
 * stack reads the TAP, makes the kernel drop it on the TAP's queue: that is the link, not the listener).
 */
const floodWhileFetching = (lab: Lab, extra: ReadonlyArray<string>) =>
  Effect.gen(function* () {
    const stats = httpServerStats()
    const listener = yield* lab.stack.tcp.serve(80, httpHandler(stats))
    const url = `http://${OURS}/bytes/${BODY}`
    // curl from an address of its own: hping3's raw SYNs use source ports the kernel does not know are taken, so a
    // curl from the same address could pick the 4-tuple of a flood connection (and meet its SYN-ACKs)
    lab.ns.ip("addr", "add", `${CURL_FROM}/24`, "dev", lab.dev)
    const curl = () =>
      lab.ns.exec(["sh", "-c", `curl -sS --interface ${CURL_FROM} --max-time 20 ${url} | sha256sum`], {
        timeoutMs: 30_000,
      })
    // before the flood: the server works
    const first = yield* Effect.promise(curl)
    assert.equal(first.stdout.split(" ")[0], bodySha256(BODY), first.stderr)
    const segmentsBefore = (yield* lab.stack.tcp.stats).segmentsIn
    const hping = lab.ns.exec(
      ["timeout", "-s", "INT", String(FLOOD_SECONDS), "hping3", "-S", "--flood", "-p", "80", ...extra, OURS],
      { timeoutMs: (FLOOD_SECONDS + 10) * 1000 },
    )
    let floodOver = false
    void hping.then(() => (floodOver = true))
    let maxHalfOpen = 0
    const watch = setInterval(() => {
      void Effect.runPromise(listener.stats).then((s) => (maxHalfOpen = Math.max(maxHalfOpen, s.halfOpen)))
    }, 50)
    // let the flood fill the half-open queue, then fetch, one curl after the other, until it is over
    yield* Effect.sleep("500 millis")
    let curls = 0
    let endedDuringFlood = 0
    let worstMs = 0
    const failed: Array<string> = []
    while (!floodOver) {
      const t = performance.now()
      curls++
      const r = yield* Effect.promise(curl)
      worstMs = Math.max(worstMs, performance.now() - t)
      if (!floodOver) endedDuringFlood++
      if (r.stdout.split(" ")[0] !== bodySha256(BODY)) failed.push(`${r.stdout.trim()} ${r.stderr.trim()}`)
    }
    clearInterval(watch)
    const h = yield* Effect.promise(() => hping)
    const s = yield* listener.stats
    return {
      hping: (h.stdout + h.stderr).trim().split("\n").filter((l) => /packets/.test(l)).join("; "),
      curls,
      endedDuringFlood,
      failed,
      worstMs,
      listener: s,
      maxHalfOpen,
      segmentsIn: (yield* lab.stack.tcp.stats).segmentsIn - segmentsBefore,
    } satisfies FloodResult
  })

const check = (name: string, r: FloodResult) => {
  console.log(
    `[synflood-tap ${RUNTIME}] ${name}: ${r.segmentsIn} segments in, ${r.listener.synCookiesSent} cookies, ` +
      `${r.curls} curls started during the flood (${r.endedDuringFlood} ended during it, ${r.failed.length} failed, ` +
      `slowest ${r.worstMs.toFixed(0)} ms), half-open max ${r.maxHalfOpen}; hping3: ${r.hping}`,
  )
  assert.deepEqual(r.failed, [], "every curl started during the flood got the whole body")
  assert.ok(r.curls >= 1)
  assert.ok(r.listener.synCookiesSent > 1000, "the flood was answered with cookies")
  assert.ok(r.maxHalfOpen <= 128, `half-open ${r.maxHalfOpen} ≤ 128`)
}

describe("SYN flood over TAP: hping3 against our stack while curl fetches", () => {
  it(
    "hping3 -S --flood from the kernel's address, its RSTs dropped (a true half-open flood): every curl succeeds",
    { skip: SKIP, timeout: 120_000 },
    async () => {
      const { result, report } = await withTapLab((lab) =>
        Effect.gen(function* () {
          // the kernel answers each SYN-ACK it never asked for with <SEQ=SEG.ACK><CTL=RST> (no ACK bit): drop those,
          // inside the namespace only, so the flood's connections stay half-open on our side
          lab.ns.execSync("nft", "add", "table", "inet", "synflood")
          lab.ns.execSync("nft", "add chain inet synflood out { type filter hook output priority 0; }")
          lab.ns.execSync(
            "nft",
            `add rule inet synflood out ip saddr ${KERNEL} ip daddr ${OURS} tcp flags & (rst | ack) == rst drop`,
          )
          return yield* floodWhileFetching(lab, [])
        }), { captureFilter: NOT_THE_FLOOD })
      check("half-open flood", result)
      assert.equal(result.maxHalfOpen, 128, "the half-open queue was full")
      assertClean(report)
    },
  )

  it(
    "hping3 -S --flood --rand-source (spoofed sources): every curl succeeds",
    { skip: SKIP, timeout: 120_000 },
    async () => {
      const { result, report } = await withTapLab(
        (lab) => floodWhileFetching(lab, ["--rand-source"]),
        { captureFilter: NOT_THE_FLOOD },
      )
      check("spoofed flood", result)
      assertClean(report)
    },
  )
})
