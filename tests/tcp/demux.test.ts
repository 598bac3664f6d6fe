/**
 * `src/tcp/Demux.ts`: lookups by 4-tuple (port pair, then the remote address along a chain), removal from the head,
 * middle and tail of a chain, listeners by port, `isFree`, and a model-based property (random inserts and removes
 * against a `Map` keyed by the whole 4-tuple).
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import { Demux, type DemuxEntry } from "../../src/tcp/Demux.ts"

interface Entry extends DemuxEntry {
  readonly remoteAddress: number
  readonly id: number
}

let ids = 0
const entry = (remoteAddress: number, remotePort: number, localPort: number): Entry => ({
  id: ids++,
  remoteAddress,
  remotePort,
  localPort,
  next: undefined,
  inTable: false,
})

const A = 0x0a000002
const B = 0x0a000003
const C = 0x0a000004

describe("Demux", () => {
  it("finds a connection by its 4-tuple, nothing else", () => {
    const d = new Demux<Entry, string>()
    const x = entry(A, 5000, 80)
    d.insert(x)
    assert.equal(d.lookup(A, 5000, 80), x)
    assert.equal(d.lookup(B, 5000, 80), undefined, "other remote address")
    assert.equal(d.lookup(A, 5001, 80), undefined, "other remote port")
    assert.equal(d.lookup(A, 5000, 81), undefined, "other local port")
    assert.equal(d.lookup(A, 80, 5000), undefined, "ports swapped")
    assert.equal(x.inTable, true)
    assert.equal(d.size, 1)
  })

  it("keeps several peers on one port pair apart, and removes from any place in the chain", () => {
    const d = new Demux<Entry, string>()
    const xs = [entry(A, 5000, 80), entry(B, 5000, 80), entry(C, 5000, 80)]
    for (const x of xs) d.insert(x)
    for (const x of xs) assert.equal(d.lookup(x.remoteAddress, 5000, 80), x)
    assert.equal(d.remove(xs[1]), true, "middle")
    assert.equal(d.lookup(B, 5000, 80), undefined)
    assert.equal(d.lookup(A, 5000, 80), xs[0])
    assert.equal(d.lookup(C, 5000, 80), xs[2])
    assert.equal(d.remove(xs[2]), true, "head (the last inserted)")
    assert.equal(d.lookup(A, 5000, 80), xs[0])
    assert.equal(d.remove(xs[0]), true, "the only one left")
    assert.equal(d.lookup(A, 5000, 80), undefined)
    assert.equal(d.size, 0)
    assert.equal(d.remove(xs[0]), false, "already gone")
    assert.equal(xs[0].inTable, false)
    assert.equal(xs[0].next, undefined)
  })

  it("lists its connections and counts them", () => {
    const d = new Demux<Entry, string>()
    const xs = [entry(A, 1, 2), entry(B, 3, 4), entry(A, 3, 4)]
    for (const x of xs) d.insert(x)
    assert.deepEqual([...d.connections()], xs)
    d.remove(xs[1])
    assert.deepEqual([...d.connections()], [xs[0], xs[2]])
    assert.equal(d.size, 2)
  })

  it("holds one listener per port; unlisten removes only the given one", () => {
    const d = new Demux<Entry, string>()
    d.listen(80, "first")
    assert.equal(d.listener(80), "first")
    assert.equal(d.listener(81), undefined)
    d.unlisten(80, "someone else")
    assert.equal(d.listener(80), "first")
    d.listen(80, "second")
    assert.equal(d.listener(80), "second")
    d.listen(443, "tls")
    assert.equal(d.listenerCount, 2)
    assert.deepEqual([...d.listeners()], ["second", "tls"])
    d.unlisten(80, "second")
    assert.equal(d.listener(80), undefined)
    d.clearListeners()
    assert.equal(d.listenerCount, 0)
  })

  it("a local port is free towards a peer unless a connection or a listener uses it", () => {
    const d = new Demux<Entry, string>()
    assert.equal(d.isFree(A, 80, 50000), true)
    d.insert(entry(A, 80, 50000))
    assert.equal(d.isFree(A, 80, 50000), false)
    assert.equal(d.isFree(B, 80, 50000), true, "same local port, other peer")
    d.listen(50001, "l")
    assert.equal(d.isFree(A, 80, 50001), false)
  })

  it("matches a Map keyed by the whole 4-tuple under random inserts and removes (property)", () => {
    const tuple = fc.record({
      remote: fc.constantFrom(A, B, C),
      remotePort: fc.constantFrom(1, 2, 65535),
      localPort: fc.constantFrom(1, 2, 65535),
    })
    const op = fc.record({ insert: fc.boolean(), t: tuple })
    fc.assert(
      fc.property(fc.array(op, { maxLength: 150 }), (ops) => {
        const d = new Demux<Entry, string>()
        const model = new Map<string, Entry>()
        const key = (r: number, rp: number, lp: number) => `${r}:${rp}:${lp}`
        for (const o of ops) {
          const k = key(o.t.remote, o.t.remotePort, o.t.localPort)
          const present = model.get(k)
          if (o.insert) {
            if (present === undefined) {
              const x = entry(o.t.remote, o.t.remotePort, o.t.localPort)
              d.insert(x)
              model.set(k, x)
            }
          } else if (present !== undefined) {
            assert.equal(d.remove(present), true)
            model.delete(k)
          }
          assert.equal(d.size, model.size)
          for (const r of [A, B, C]) {
            for (const rp of [1, 2, 65535]) {
              for (const lp of [1, 2, 65535]) assert.equal(d.lookup(r, rp, lp), model.get(key(r, rp, lp)))
            }
          }
        }
      }),
      { numRuns: 200 },
    )
  })
})
