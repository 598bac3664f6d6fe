/**
 * The TCP demultiplexer of one stack: which connection a segment belongs to (its 4-tuple), and which listener a
 * segment for no connection goes to (its destination port). Plain TypeScript with no Effect, so the receive path
 * costs a few map reads per segment and the table is tested alone.
 *
 * Connections are keyed in two levels, so a lookup allocates nothing: a `Map` from `localPort · 65536 + remotePort`
 * to the head of a chain, then the chain (linked through each entry's `next`, owned by the table) compared on the
 * remote address. Our own address is not part of the key: a stack has one address per family. Addresses are
 * compared with `===` (numbers for IPv4; an interned object per address for a family that needs one).
 *
 * @module
 */

/** A connection as the table holds it. `next` and `inTable` belong to the table: only {@link Demux} writes them. */
export interface DemuxEntry {
  /** The peer's address (compared with `===`). */
  readonly remoteAddress: unknown
  /** Our port. */
  readonly localPort: number
  /** The peer's port. */
  readonly remotePort: number
  /** The next entry with the same port pair (the table's chain). */
  next: DemuxEntry | undefined
  /** Whether the entry is in the table now. */
  inTable: boolean
}

/** Connections by 4-tuple and listeners by port (see the module docs). */
export class Demux<C extends DemuxEntry, L> {
  private readonly chains = new Map<number, C>()
  private readonly entries = new Set<C>()
  private readonly listening = new Map<number, L>()

  /** The connection from `remote:remotePort` to our `localPort`, or undefined. */
  lookup(remote: C["remoteAddress"], remotePort: number, localPort: number): C | undefined {
    let c = this.chains.get(localPort * 65536 + remotePort)
    while (c !== undefined && c.remoteAddress !== remote) c = c.next as C | undefined
    return c
  }

  /** Adds `c` (whose 4-tuple must be free: see {@link isFree}). */
  insert(c: C): void {
    const key = c.localPort * 65536 + c.remotePort
    c.next = this.chains.get(key)
    this.chains.set(key, c)
    this.entries.add(c)
    c.inTable = true
  }

  /** Removes `c`; false if it was not in the table. */
  remove(c: C): boolean {
    if (!c.inTable) return false
    c.inTable = false
    this.entries.delete(c)
    const key = c.localPort * 65536 + c.remotePort
    const head = this.chains.get(key)
    if (head === c) {
      if (c.next === undefined) this.chains.delete(key)
      else this.chains.set(key, c.next as C)
    } else {
      let p: DemuxEntry | undefined = head
      while (p !== undefined && p.next !== c) p = p.next
      if (p !== undefined) p.next = c.next
    }
    c.next = undefined
    return true
  }

  /** Connections in the table now. */
  get size(): number {
    return this.entries.size
  }

  /** Every connection in the table (in insertion order); do not change the table while iterating. */
  connections(): IterableIterator<C> {
    return this.entries.values()
  }

  /** The listener on `port`, or undefined. */
  listener(port: number): L | undefined {
    return this.listening.get(port)
  }

  /** Makes `listener` the one on `port` (replacing none: check {@link listener} first). */
  listen(port: number, listener: L): void {
    this.listening.set(port, listener)
  }

  /** Removes the listener on `port` if it is `listener`. */
  unlisten(port: number, listener: L): void {
    if (this.listening.get(port) === listener) this.listening.delete(port)
  }

  /** Listening ports now. */
  get listenerCount(): number {
    return this.listening.size
  }

  /** Every listener (do not change the listeners while iterating). */
  listeners(): IterableIterator<L> {
    return this.listening.values()
  }

  /** Removes every listener. */
  clearListeners(): void {
    this.listening.clear()
  }

  /** Whether a new connection may use `localPort` towards `remote:remotePort`: no such connection and no listener. */
  isFree(remote: C["remoteAddress"], remotePort: number, localPort: number): boolean {
    return this.lookup(remote, remotePort, localPort) === undefined && !this.listening.has(localPort)
  }
}
