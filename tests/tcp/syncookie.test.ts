/**
 * SYN cookies, pure: SipHash-2-4 against the reference test vectors; the cookie round trip over every MSS index,
 * its expiry after the window, and the rejection of a cookie moved to another 4-tuple, peer ISN, key or number;
 * the option bits carried in the TSval; and the LISTEN core answering with cookies ("always", and "auto" once the
 * half-open queue is full), creating established connections from valid cookie ACKs (their data and FIN accepted),
 * refusing bad ones with a RST, and dropping when the accept queue is full.
 *
 * @module
 */
import assert from "node:assert/strict"
import { describe, it } from "node:test"
import { Listener, type ListenerConfig } from "../../src/tcp/Listener.ts"
import { seqGt } from "../../src/tcp/SeqNum.ts"
import {
  cookieTsVal,
  mssIndexFor,
  sipHash24Bytes,
  SYN_COOKIE_LIFETIME_MS,
  SYN_COOKIE_MSS,
  SYN_COOKIE_PERIOD_MS,
  type SynCookieMode,
  SynCookies,
  tsEcrSack,
  tsEcrWindowScale,
} from "../../src/tcp/SynCookie.ts"
import type { Tcb } from "../../src/tcp/Tcb.ts"
import { makeTcbConfig } from "../../src/tcp/TcpConfig.ts"
import { Ipv4Address } from "../../src/wire/Ipv4Address.ts"
import { Ipv6Address } from "../../src/wire/Ipv6Address.ts"
import type { TcpRepr } from "../../src/wire/Tcp.ts"
import { ACK, bytes, expectSegments, FIN, IRS, LOCAL_PORT, mk, PSH, REMOTE_PORT, RST, SYN } from "./support.ts"

/** SipHash-2-4 with key 00 01 … 0f of the messages 00, 00 01, … (0 to 63 bytes): the reference implementation's. */
const SIPHASH_VECTORS: ReadonlyArray<string> = [
  "310e0edd47db6f72",
  "fd67dc93c539f874",
  "5a4fa9d909806c0d",
  "2d7efbd796666785",
  "b7877127e09427cf",
  "8da699cd64557618",
  "cee3fe586e46c9cb",
  "37d1018bf50002ab",
  "6224939a79f5f593",
  "b0e4a90bdf82009e",
  "f3b9dd94c5bb5d7a",
  "a7ad6b22462fb3f4",
  "fbe50e86bc8f1e75",
  "903d84c02756ea14",
  "eef27a8e90ca23f7",
  "e545be4961ca29a1",
  "db9bc2577fcc2a3f",
  "9447be2cf5e99a69",
  "9cd38d96f0b3c14b",
  "bd6179a71dc96dbb",
  "98eea21af25cd6be",
  "c7673b2eb0cbf2d0",
  "883ea3e395675393",
  "c8ce5ccd8c030ca8",
  "94af49f6c650adb8",
  "eab8858ade92e1bc",
  "f315bb5bb835d817",
  "adcf6b0763612e2f",
  "a5c91da7acaa4dde",
  "716595876650a2a6",
  "28ef495c53a387ad",
  "42c341d8fa92d832",
  "ce7cf2722f512771",
  "e37859f94623f3a7",
  "381205bb1ab0e012",
  "ae97a10fd434e015",
  "b4a31508beff4d31",
  "81396229f0907902",
  "4d0cf49ee5d4dcca",
  "5c73336a76d8bf9a",
  "d0a704536ba93e0e",
  "925958fcd6420cad",
  "a915c29bc8067318",
  "952b79f3bc0aa6d4",
  "f21df2e41d4535f9",
  "87577519048f53a9",
  "10a56cf5dfcd9adb",
  "eb75095ccd986cd0",
  "51a9cb9ecba312e6",
  "96afadfc2ce666c7",
  "72fe52975a4364ee",
  "5a1645b276d592a1",
  "b274cb8ebf87870a",
  "6f9bb4203de7b381",
  "eaecb2a30b22a87f",
  "9924a43cc1315724",
  "bd838d3aafbf8db7",
  "0b1a2a3265d51aea",
  "135079a3231ce660",
  "932b2846e4d70666",
  "e1915f5cb1eca46c",
  "f325965ca16d629f",
  "575ff28e60381be5",
  "724506eb4c328a95",
]

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")
const KEY = [0x01234567, 0x89abcdef, 0xdeadbeef, 0x0badf00d]
const LOCAL = Ipv4Address.parse("10.0.0.2")!
const REMOTE = Ipv4Address.parse("192.0.2.7")!
/** A time in the middle of a cookie period. */
const T0 = 1_700_000_000_000 + SYN_COOKIE_PERIOD_MS / 2

describe("SipHash-2-4", () => {
  it("matches the 64 test vectors of the reference implementation (key 00..0f, messages 00..n-1)", () => {
    const key = Uint8Array.from({ length: 16 }, (_, i) => i)
    for (let n = 0; n < 64; n++) {
      const m = Uint8Array.from({ length: n }, (_, i) => i)
      assert.equal(hex(sipHash24Bytes(key, m)), SIPHASH_VECTORS[n], `message of ${n} bytes`)
    }
  })
  it("the paper's example: 15 bytes 00..0e under key 00..0f → a129ca6149be45e5", () => {
    const key = Uint8Array.from({ length: 16 }, (_, i) => i)
    const out = sipHash24Bytes(key, Uint8Array.from({ length: 15 }, (_, i) => i))
    assert.equal(hex(out.slice().reverse()), "a129ca6149be45e5")
  })
  it("depends on every key byte", () => {
    const m = bytes("syn cookie")
    const base = hex(sipHash24Bytes(new Uint8Array(16), m))
    for (let i = 0; i < 16; i++) {
      const k = new Uint8Array(16)
      k[i] = 1
      assert.notEqual(hex(sipHash24Bytes(k, m)), base, `key byte ${i}`)
    }
  })
})

describe("SYN cookie encoding", () => {
  it("the MSS table: a peer's MSS rounds down to an entry", () => {
    assert.equal(SYN_COOKIE_MSS.length, 8)
    const cases: ReadonlyArray<readonly [number, number]> = [
      [1460, 1460],
      [1459, 1440],
      [1000, 536],
      [536, 536],
      [535, 64],
      [1, 64],
      [1410, 1400],
      [9000, 8960],
      [65495, 8960],
    ]
    for (const [mss, want] of cases) assert.equal(SYN_COOKIE_MSS[mssIndexFor(mss)], want, `MSS ${mss}`)
  })
  it("round trip over every MSS index, at once and until 90 s later", () => {
    const jar = new SynCookies(KEY)
    for (let i = 0; i < SYN_COOKIE_MSS.length; i++) {
      for (const isn of [0, 1, 0x7fffffff, 0xffffffff, 0x12345678]) {
        const c = jar.encode(LOCAL, REMOTE, 80, 40000 + i, isn, i, T0)
        const off = jar.tsOffset
        for (const dt of [0, 1, 29_999, 60_000, 89_999]) {
          assert.equal(jar.check(LOCAL, REMOTE, 80, 40000 + i, isn, c, T0 + dt), i, `index ${i}, +${dt} ms`)
          assert.equal(jar.tsOffset, off, "the check restores the timestamp offset")
        }
      }
    }
  })
  it("expires: every cookie is refused once the window is over (≥ 120 s), whenever it was made", () => {
    const jar = new SynCookies(KEY)
    for (let k = 0; k < 200; k++) {
      const t = T0 + k * 1_777
      const c = jar.encode(LOCAL, REMOTE, 80, 1234, k * 99991, 6, t)
      const counterEnd = (Math.floor(t / SYN_COOKIE_PERIOD_MS) + 4) * SYN_COOKIE_PERIOD_MS
      assert.equal(jar.check(LOCAL, REMOTE, 80, 1234, k * 99991, c, counterEnd - 1), 6, "last moment of the window")
      for (const t2 of [counterEnd, t + SYN_COOKIE_LIFETIME_MS, t + 10 * SYN_COOKIE_LIFETIME_MS, t + 86_400_000]) {
        assert.equal(jar.check(LOCAL, REMOTE, 80, 1234, k * 99991, c, t2), -1, `cookie ${k} at +${t2 - t} ms`)
      }
    }
  })
  it("refuses a cookie moved to another address, port, peer ISN, key, or any other number", () => {
    const jar = new SynCookies(KEY)
    const isn = 0xcafe0001
    const c = jar.encode(LOCAL, REMOTE, 80, 40000, isn, 6, T0)
    const ok = (l: number, r: number, lp: number, rp: number, i: number, cookie: number, j = jar): boolean =>
      j.check(l as Ipv4Address, r as Ipv4Address, lp, rp, i, cookie, T0 + 1000) >= 0
    assert.ok(ok(LOCAL, REMOTE, 80, 40000, isn, c))
    for (let bit = 0; bit < 32; bit++) {
      const flip = (x: number) => (x ^ (1 << bit)) >>> 0
      assert.ok(!ok(flip(LOCAL), REMOTE, 80, 40000, isn, c), `local address bit ${bit}`)
      assert.ok(!ok(LOCAL, flip(REMOTE), 80, 40000, isn, c), `remote address bit ${bit}`)
      assert.ok(!ok(LOCAL, REMOTE, 80, 40000, flip(isn), c), `peer ISN bit ${bit}`)
      assert.ok(!ok(LOCAL, REMOTE, 80, 40000, isn, flip(c)), `cookie bit ${bit}`)
      if (bit < 16) {
        assert.ok(!ok(LOCAL, REMOTE, flip(80), 40000, isn, c), `local port bit ${bit}`)
        assert.ok(!ok(LOCAL, REMOTE, 80, flip(40000), isn, c), `remote port bit ${bit}`)
      }
    }
    for (let d = -1000; d <= 1000; d++) {
      if (d !== 0) assert.ok(!ok(LOCAL, REMOTE, 80, 40000, isn, (c + d) >>> 0), `cookie ${d >= 0 ? "+" : ""}${d}`)
    }
    assert.ok(!ok(LOCAL, REMOTE, 40000, 80, isn, c), "ports swapped")
    assert.ok(!ok(REMOTE, LOCAL, 80, 40000, isn, c), "addresses swapped")
    assert.ok(!ok(LOCAL, REMOTE, 80, 40000, isn, c, new SynCookies([KEY[0], KEY[1], KEY[2], KEY[3] ^ 1])), "other key")
  })
  it("random cookies almost never check (2^-27 each): none of 100 000", () => {
    const jar = new SynCookies(KEY)
    let x = 0x9e3779b9
    let accepted = 0
    for (let i = 0; i < 100_000; i++) {
      x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + i) >>> 0
      if (jar.check(LOCAL, REMOTE, 80, 40000, i, x, T0) >= 0) accepted++
    }
    assert.equal(accepted, 0)
  })
  it("works for IPv6 addresses, every word of the address counting", () => {
    const jar = new SynCookies(KEY)
    const a = Ipv6Address.parse("2001:db8::1")!
    const b = Ipv6Address.parse("2001:db8::2")!
    const c = jar.encode(a, b, 443, 50000, 77, 5, T0)
    assert.equal(jar.check(a, b, 443, 50000, 77, c, T0), 5)
    for (const other of ["2001:db8::3", "2001:db9::2", "3001:db8::2", "2001:db8:0:0:1::2"]) {
      assert.equal(jar.check(a, Ipv6Address.parse(other)!, 443, 50000, 77, c, T0), -1, other)
    }
  })
  it("cookies look random: the top bits are not the clock or the MSS index in clear", () => {
    const jar = new SynCookies(KEY)
    const tops = new Set<number>()
    for (let i = 0; i < 256; i++) tops.add(jar.encode(LOCAL, REMOTE, 80, 40000 + i, 1, 6, T0) >>> 27)
    assert.ok(tops.size > 24, `${tops.size} distinct values of the top 5 bits`)
  })
  it("the key is drawn from the random source on first use, once", () => {
    let draws = 0
    const jar = new SynCookies(() => KEY[draws++])
    assert.equal(draws, 0)
    const c = jar.encode(LOCAL, REMOTE, 80, 40000, 1, 6, T0)
    assert.equal(draws, 4)
    assert.equal(c, new SynCookies(KEY).encode(LOCAL, REMOTE, 80, 40000, 1, 6, T0))
    jar.check(LOCAL, REMOTE, 80, 40000, 1, c, T0)
    assert.equal(draws, 4)
  })
})

describe("SYN cookie timestamps", () => {
  it("carry the window scale (or none) and SACK-permitted, and never run ahead of the clock", () => {
    for (const clock of [0, 5, 31, 32, 1_000_003, 0xffffffe0, 0xffffffff, 0x7fffffff]) {
      for (const ws of [undefined, 0, 1, 7, 14]) {
        for (const sack of [false, true]) {
          const v = cookieTsVal(clock, ws, sack)
          assert.equal(tsEcrWindowScale(v), ws, `clock ${clock} ws ${ws}`)
          assert.equal(tsEcrSack(v), sack)
          assert.ok(!seqGt(v, clock), `TSval ${v} is not ahead of the clock ${clock}`)
          assert.ok(((clock - v) >>> 0) < 64, "and close to it")
        }
      }
    }
    assert.equal(tsEcrWindowScale(cookieTsVal(1000, 15, false)), 14, "a shift above 14 is clamped (RFC 7323 §2.3)")
  })
})

// ------------------------------------------------------------------------------------------------ the LISTEN core

const PEER = Ipv4Address.parse("192.0.2.9")!

const listener = (mode: SynCookieMode, over: Partial<ListenerConfig> = {}, tcb = makeTcbConfig()): Listener => {
  let n = 0
  return new Listener(LOCAL_PORT, () => 7000 + 1000 * n++, {
    backlog: 4,
    synBacklog: 2,
    cookies: { mode, jar: new SynCookies(KEY), localAddress: LOCAL },
    tcb,
    ...over,
  })
}

const reply = (r: ReturnType<Listener["input"]>): TcpRepr => {
  assert.equal(r._tag, "Reply")
  return (r as { segment: TcpRepr }).segment
}
const created = (r: ReturnType<Listener["input"]>): Tcb => {
  assert.equal(r._tag, "Created")
  return (r as { tcb: Tcb }).tcb
}
/** `seg` from another port of the peer. */
const from = (port: number, seg: TcpRepr): TcpRepr => ({ ...seg, srcPort: port })

describe("LISTEN with SYN cookies", () => {
  it('"always": a SYN gets a cookie SYN-ACK and no state; its ACK creates an established connection', () => {
    const l = listener("always")
    const synAck = reply(l.input(mk({ seq: IRS, flags: SYN, mss: 1460 }), T0, PEER))
    const iss = synAck.seqNumber
    expectSegments([synAck], [{ seq: iss, ack: IRS + 1, flags: SYN | ACK, mss: 1460, win: 65535 }])
    assert.equal(synAck.options.windowScale, undefined, "no window scaling without timestamps")
    assert.equal(synAck.options.sackPermitted, false, "no SACK without timestamps")
    assert.equal(l.synQueue.size, 0)
    assert.equal(l.stats.synCookiesSent, 1)
    assert.equal(l.stats.synsAccepted, 0)
    const tcb = created(l.input(mk({ seq: IRS + 1, ack: iss + 1, flags: ACK, win: 1000 }), T0 + 5, PEER))
    assert.equal(tcb.state, "ESTABLISHED")
    assert.equal(tcb.iss, iss)
    assert.equal(tcb.rcvNxt, IRS + 1)
    assert.equal(tcb.sndUna, (iss + 1) >>> 0)
    assert.equal(tcb.sndWnd, 1000)
    assert.equal(tcb.effMss, 1460)
    assert.ok(!tcb.tsOk && !tcb.sackOk && tcb.sndShift === 0 && tcb.rcvShift === 0)
    assert.deepEqual(l.acceptQueue, [tcb])
    assert.equal(l.stats.synCookiesOk, 1)
    assert.equal(l.accept(), tcb)
    // it behaves like any connection: data both ways
    assert.equal(tcb.write(bytes("hello")), 5)
    expectSegments(tcb.poll(T0 + 6), [{ seq: (iss + 1) >>> 0, ack: IRS + 1, flags: ACK | PSH, data: "hello" }])
    tcb.input(mk({ seq: IRS + 1, ack: (iss + 6) >>> 0, flags: ACK | PSH, data: "world" }), T0 + 7)
    assert.deepEqual(tcb.read(), bytes("world"))
  })
  it("with timestamps, window scale and SACK-permitted come back through TSecr; the MSS through the table", () => {
    const l = listener("always", {}, makeTcbConfig({ recvBufferSize: 1 << 20 }))
    const synAck = reply(
      l.input(mk({ seq: IRS, flags: SYN, mss: 1000, ws: 9, sackPerm: true, ts: [4444, 0] }), T0, PEER),
    )
    assert.equal(synAck.options.windowScale, 5, "our own shift for 1 MiB")
    assert.equal(synAck.options.sackPermitted, true)
    const ts = synAck.options.timestamps!
    assert.equal(ts.tsEcr, 4444)
    assert.equal(tsEcrWindowScale(ts.tsVal), 9)
    assert.equal(tsEcrSack(ts.tsVal), true)
    const tcb = created(
      l.input(
        mk({ seq: IRS + 1, ack: (synAck.seqNumber + 1) >>> 0, flags: ACK, win: 100, ts: [4450, ts.tsVal] }),
        T0,
        PEER,
      ),
    )
    assert.equal(tcb.state, "ESTABLISHED")
    assert.ok(tcb.tsOk && tcb.sackOk)
    assert.equal(tcb.sndShift, 9)
    assert.equal(tcb.rcvShift, 5)
    assert.equal(tcb.sndWnd, 100 << 9, "the ACK's window is scaled")
    assert.equal(tcb.effMss, 536 - 12, "MSS 1000 rounds down to 536, less the timestamps")
    // our next TSval continues from the SYN-ACK's (the peer's PAWS), and echoes the ACK's TSval
    tcb.write(bytes("x"))
    const [d] = tcb.poll(T0 + 1)
    assert.ok(!seqGt(ts.tsVal, d.options.timestamps!.tsVal), "TSvals do not go backwards")
    assert.equal(d.options.timestamps!.tsEcr, 4450)
    // a SYN without a window scale: the cookie says "none" and the SYN-ACK offers none
    const plain = reply(l.input(from(50001, mk({ seq: IRS, flags: SYN, ts: [1, 0] })), T0, PEER))
    assert.equal(plain.options.windowScale, undefined)
    const t2 = created(
      l.input(
        from(
          50001,
          mk({ seq: IRS + 1, ack: (plain.seqNumber + 1) >>> 0, flags: ACK, ts: [2, plain.options.timestamps!.tsVal] }),
        ),
        T0,
        PEER,
      ),
    )
    assert.ok(t2.tsOk && !t2.sackOk && t2.sndShift === 0 && t2.rcvShift === 0)
    assert.equal(t2.effMss, 536 - 12, "no MSS option: 536")
  })
  it("data and FIN on the cookie ACK are accepted and acknowledged", () => {
    const l = listener("always")
    const iss = reply(l.input(mk({ seq: IRS, flags: SYN }), T0, PEER)).seqNumber
    const tcb = created(
      l.input(mk({ seq: IRS + 1, ack: (iss + 1) >>> 0, flags: ACK | PSH | FIN, data: "GET /" }), T0, PEER),
    )
    assert.equal(tcb.state, "CLOSE-WAIT")
    assert.deepEqual(tcb.read(), bytes("GET /"))
    assert.equal(tcb.read(), null, "then the end of the stream")
    expectSegments(tcb.poll(T0), [{ seq: (iss + 1) >>> 0, ack: IRS + 7, flags: ACK }])
  })
  it("a bad cookie ACK is answered as an ACK to a closed port (RST) and counted", () => {
    const l = listener("always")
    const iss = reply(l.input(mk({ seq: IRS, flags: SYN }), T0, PEER)).seqNumber
    const bad = [
      mk({ seq: IRS + 1, ack: (iss + 2) >>> 0, flags: ACK }),
      mk({ seq: IRS + 2, ack: (iss + 1) >>> 0, flags: ACK }),
      mk({ seq: IRS + 1, ack: (iss + 1) >>> 0, flags: ACK }),
    ]
    expectSegments([reply(l.input(bad[0], T0, PEER))], [{ seq: (iss + 2) >>> 0, flags: RST }])
    expectSegments([reply(l.input(bad[1], T0, PEER))], [{ seq: (iss + 1) >>> 0, flags: RST }])
    expectSegments([reply(l.input(bad[2], T0, Ipv4Address.parse("192.0.2.10")!))], [{
      seq: (iss + 1) >>> 0,
      flags: RST,
    }])
    assert.equal(l.stats.synCookiesFailed, 3)
    assert.equal(l.stats.resetsSent, 3)
    assert.equal(l.stats.synCookiesOk, 0)
    // a RST or a SYN-ACK is never taken for a cookie ACK
    assert.equal(l.input(mk({ seq: IRS + 1, ack: (iss + 1) >>> 0, flags: RST | ACK }), T0, PEER)._tag, "Dropped")
    expectSegments([reply(l.input(mk({ seq: IRS, ack: (iss + 1) >>> 0, flags: SYN | ACK }), T0, PEER))], [{
      seq: (iss + 1) >>> 0,
      flags: RST,
    }])
    assert.equal(l.stats.synCookiesOk, 0)
    // the right ACK still works afterwards
    const ok = l.input(mk({ seq: IRS + 1, ack: (iss + 1) >>> 0, flags: ACK }), T0, PEER)
    assert.equal(created(ok).state, "ESTABLISHED")
  })
  it('"auto": cookies only once the half-open queue is full; ACKs are checked only while cookies are recent', () => {
    const l = listener("auto")
    // before any cookie: a stray ACK is refused without a check (not a cookie failure)
    reply(l.input(mk({ seq: 1, ack: 2, flags: ACK }), T0, PEER))
    assert.equal(l.stats.synCookiesFailed, 0)
    const a = created(l.input(mk({ seq: IRS, flags: SYN }), T0, PEER))
    const b = created(l.input(from(50001, mk({ seq: IRS, flags: SYN })), T0, PEER))
    assert.equal(l.synQueue.size, 2)
    const synAck = reply(l.input(from(50002, mk({ seq: IRS, flags: SYN })), T0, PEER))
    assert.equal(synAck.flags, SYN | ACK)
    assert.equal(l.stats.synCookiesSent, 1)
    assert.equal(l.stats.synsAccepted, 2)
    assert.equal(l.synQueue.size, 2, "no state for the third")
    // the half-open ones complete as usual
    for (const t of [a, b]) {
      t.poll(T0)
      t.input(from(t.remotePort, mk({ seq: IRS + 1, ack: t.iss + 1, flags: ACK })), T0)
    }
    assert.equal(l.acceptQueue.length, 2)
    // the cookie one too, within its lifetime
    const c = created(l.input(from(50002, mk({ seq: IRS + 1, ack: synAck.seqNumber + 1, flags: ACK })), T0 + 1, PEER))
    assert.equal(c.state, "ESTABLISHED")
    assert.equal(l.acceptQueue.length, 3)
    // a forged ACK while cookies are recent: checked, refused, counted
    reply(l.input(mk({ seq: 1, ack: 2, flags: ACK }), T0 + 2, PEER))
    assert.equal(l.stats.synCookiesFailed, 1)
    // long after the last cookie, ACKs are no longer checked
    reply(l.input(mk({ seq: 1, ack: 2, flags: ACK }), T0 + SYN_COOKIE_LIFETIME_MS, PEER))
    assert.equal(l.stats.synCookiesFailed, 1)
  })
  it('"never": a full half-open queue drops SYNs; ACKs are never checked', () => {
    const l = listener("never")
    created(l.input(mk({ seq: IRS, flags: SYN }), T0, PEER))
    created(l.input(from(50001, mk({ seq: IRS, flags: SYN })), T0, PEER))
    assert.equal(l.input(from(50002, mk({ seq: IRS, flags: SYN })), T0, PEER)._tag, "Dropped")
    assert.equal(l.stats.synsDropped, 1)
    assert.equal(l.stats.synCookiesSent, 0)
    reply(l.input(mk({ seq: 1, ack: 2, flags: ACK }), T0, PEER))
    assert.equal(l.stats.synCookiesFailed, 0)
  })
  it("a full accept queue drops SYNs and valid cookie ACKs (counted); the retransmitted ACK gets in later", () => {
    const l = listener("always", { backlog: 1 })
    const iss1 = reply(l.input(mk({ seq: IRS, flags: SYN }), T0, PEER)).seqNumber
    const iss2 = reply(l.input(from(50001, mk({ seq: IRS, flags: SYN })), T0, PEER)).seqNumber
    const first = created(l.input(mk({ seq: IRS + 1, ack: (iss1 + 1) >>> 0, flags: ACK }), T0, PEER))
    assert.equal(l.acceptQueue.length, 1)
    assert.equal(l.input(from(50003, mk({ seq: IRS, flags: SYN })), T0, PEER)._tag, "Dropped")
    const ack2 = from(50001, mk({ seq: IRS + 1, ack: (iss2 + 1) >>> 0, flags: ACK | PSH, data: "early" }))
    assert.equal(l.input(ack2, T0, PEER)._tag, "Dropped")
    assert.equal(l.stats.listenOverflows, 2)
    assert.equal(l.stats.synsDropped, 1)
    assert.equal(l.stats.synCookiesFailed, 0)
    assert.equal(l.accept(), first)
    const second = created(l.input(ack2, T0 + 200, PEER))
    assert.equal(second.state, "ESTABLISHED")
    assert.deepEqual(second.read(), bytes("early"))
    assert.equal(l.stats.synCookiesOk, 2)
  })
  it("without the peer's address (or without cookies configured) the listener keeps state as before", () => {
    const l = listener("always")
    assert.equal(created(l.input(mk({ seq: IRS, flags: SYN }), T0)).state, "SYN-RECEIVED")
    const plain = new Listener(LOCAL_PORT, () => 1, { backlog: 1, tcb: makeTcbConfig() })
    assert.equal(created(plain.input(mk({ seq: IRS, flags: SYN }), T0, PEER)).state, "SYN-RECEIVED")
    assert.equal(plain.input(from(REMOTE_PORT + 1, mk({ seq: IRS, flags: SYN })), T0, PEER)._tag, "Dropped")
  })
})
