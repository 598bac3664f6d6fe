/**
 * `src/util/DeadlineHeap.ts`: items come out in deadline order, only when due; a deadline moved earlier moves the
 * item's one entry; one moved later comes back when its old entry is due; `cancel` takes the entry out (the heap keeps
 * no reference to a cancelled item), `earliest` and `clear`; and a model-based property (random schedule / cancel /
 * pop sequences against a plain array, the heap's size included).
 */
import { describe, it } from "node:test"
import assert from "node:assert/strict"
import fc from "fast-check"
import { DeadlineHeap, type Scheduled } from "../../src/util/DeadlineHeap.ts"

interface Item extends Scheduled {
  readonly id: number
}

const item = (id: number): Item => ({ id, scheduledAt: Infinity, heapIndex: -1 })

/** Every item due at `now`, in the order the heap hands them out. */
const popAll = (h: DeadlineHeap<Item>, now: number): Array<number> => {
  const out: Array<number> = []
  for (let x = h.pop(now); x !== undefined; x = h.pop(now)) out.push(x.id)
  return out
}

describe("DeadlineHeap", () => {
  it("hands items out in deadline order, and only once due", () => {
    const h = new DeadlineHeap<Item>()
    const items = [item(0), item(1), item(2), item(3)]
    h.schedule(items[0], 30)
    h.schedule(items[1], 10)
    h.schedule(items[2], 20)
    h.schedule(items[3], 40)
    assert.equal(h.earliest(), 10)
    assert.deepEqual(popAll(h, 5), [])
    assert.deepEqual(popAll(h, 25), [1, 2])
    assert.equal(items[1].scheduledAt, Infinity, "a popped item has no live entry")
    assert.equal(h.earliest(), 30)
    assert.deepEqual(popAll(h, 100), [0, 3])
    assert.equal(h.earliest(), Infinity)
    assert.equal(h.size, 0)
  })

  it("a deadline moved earlier moves the item's one entry", () => {
    const h = new DeadlineHeap<Item>()
    const a = item(1)
    const b = item(2)
    assert.equal(h.schedule(a, 50), true)
    assert.equal(h.schedule(b, 30), true)
    assert.equal(h.schedule(a, 20), true)
    assert.equal(h.size, 2, "one entry per item")
    assert.equal(h.earliest(), 20)
    assert.deepEqual(popAll(h, 20), [1])
    assert.equal(h.size, 1)
    assert.deepEqual(popAll(h, 100), [2], "the item is handed out once")
    assert.equal(h.size, 0)
  })

  it("a later deadline changes nothing until the live entry comes due", () => {
    const h = new DeadlineHeap<Item>()
    const a = item(7)
    h.schedule(a, 10)
    assert.equal(h.schedule(a, 40), false, "later: no new entry")
    assert.equal(h.size, 1)
    assert.equal(a.scheduledAt, 10)
    // the owner gets the item at 10, sees it is due at 40 only, and schedules it again
    assert.deepEqual(popAll(h, 10), [7])
    assert.equal(h.schedule(a, 40), true)
    assert.deepEqual(popAll(h, 39), [])
    assert.deepEqual(popAll(h, 40), [7])
  })

  it("cancel takes the entry out; scheduling again works", () => {
    const h = new DeadlineHeap<Item>()
    const a = item(1)
    const b = item(2)
    h.schedule(a, 10)
    h.schedule(b, 20)
    h.cancel(a)
    assert.equal(h.size, 1)
    assert.equal(a.heapIndex, -1)
    assert.equal(h.earliest(), 20)
    assert.deepEqual(popAll(h, 100), [2])
    h.schedule(a, 5)
    assert.deepEqual(popAll(h, 5), [1])
    h.cancel(a) // no entry: nothing to do
    assert.equal(h.size, 0)
  })

  it("cancelled items are not held: the heap is back to its size before them", () => {
    const h = new DeadlineHeap<Item>()
    const keep = item(0)
    h.schedule(keep, 1_000)
    // many items whose deadlines moved earlier several times, then cancelled (connections closed before their timers)
    const gone = Array.from({ length: 1000 }, (_, i) => item(i + 1))
    for (const x of gone) {
      h.schedule(x, 30_000 + x.id)
      h.schedule(x, 200 + x.id)
      h.schedule(x, 40 + x.id)
    }
    for (const x of gone) h.cancel(x)
    assert.equal(h.size, 1, "only the item still scheduled has an entry")
    assert.deepEqual(popAll(h, 100_000), [0])
    assert.equal(h.size, 0)
  })

  it("clear drops every entry and resets the items", () => {
    const h = new DeadlineHeap<Item>()
    const a = item(1)
    const b = item(2)
    h.schedule(a, 10)
    h.schedule(b, 20)
    h.clear()
    assert.equal(h.size, 0)
    assert.equal(a.scheduledAt, Infinity)
    assert.equal(b.scheduledAt, Infinity)
    assert.equal(a.heapIndex, -1)
    assert.equal(h.earliest(), Infinity)
    h.schedule(b, 3)
    assert.deepEqual(popAll(h, 3), [2])
  })

  it("matches a plain model under random schedule / cancel / pop sequences (property)", () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant("schedule" as const), id: fc.nat(9), at: fc.integer({ min: 0, max: 200 }) }),
      fc.record({ kind: fc.constant("cancel" as const), id: fc.nat(9) }),
      fc.record({ kind: fc.constant("pop" as const), now: fc.integer({ min: 0, max: 200 }) }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const h = new DeadlineHeap<Item>()
        const items = Array.from({ length: 10 }, (_, i) => item(i))
        // the model: the live deadline of each item (the heap keeps the earliest one scheduled since the last pop)
        const live: Array<number> = items.map(() => Infinity)
        for (const o of ops) {
          if (o.kind === "schedule") {
            const pushed = h.schedule(items[o.id], o.at)
            assert.equal(pushed, o.at < live[o.id])
            if (pushed) live[o.id] = o.at
          } else if (o.kind === "cancel") {
            h.cancel(items[o.id])
            live[o.id] = Infinity
          } else {
            const got = popAll(h, o.now)
            const want = live
              .map((at, id) => ({ at, id }))
              .filter((e) => e.at <= o.now)
              .sort((x, y) => x.at - y.at)
            assert.deepEqual(got.map((id) => live[id]), want.map((e) => e.at), "deadline order")
            assert.deepEqual([...got].sort((x, y) => x - y), want.map((e) => e.id).sort((x, y) => x - y))
            for (const id of got) live[id] = Infinity
          }
          const min = Math.min(...live)
          assert.equal(h.earliest(), min)
          assert.equal(h.size, live.filter((at) => at !== Infinity).length, "one entry per scheduled item, none else")
          for (let i = 0; i < items.length; i++) assert.equal(items[i].scheduledAt, live[i])
        }
      }),
      { numRuns: 300 },
    )
  })
})
