/**
 * Shared helpers of the wire tests: hex conversion and a naive RFC 1071 reference checksum, written as plainly as
 * possible (one byte at a time) so that golden checksums and the optimised `Checksum.sum` are checked against an
 * independent implementation.
 *
 * @module
 */

/** Hex string (whitespace ignored) → bytes. */
export const hex = (s: string): Uint8Array => {
  const clean = s.replace(/\s+/g, "")
  if (clean.length % 2 !== 0) throw new Error(`odd hex length ${clean.length}`)
  const out = new Uint8Array(clean.length / 2)
  for (let i = 0; i < out.length; i++) {
    const v = parseInt(clean.slice(i * 2, i * 2 + 2), 16)
    if (Number.isNaN(v)) throw new Error(`bad hex at ${i * 2}`)
    out[i] = v
  }
  return out
}

/** Bytes → lower-case hex string. */
export const toHex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")

/** Naive 16-bit one's-complement sum of `bytes` (big-endian words, odd byte padded), folded to 16 bits. */
export const naiveFoldedSum = (bytes: ArrayLike<number>, start = 0, end = bytes.length): number => {
  let acc = 0
  for (let i = start; i < end; i += 2) {
    const high = bytes[i]
    const low = i + 1 < end ? bytes[i + 1] : 0
    acc += high * 256 + low
    while (acc > 0xffff) acc = (acc & 0xffff) + Math.floor(acc / 0x10000)
  }
  return acc
}

/** Naive Internet checksum of the concatenation of `parts` (each part must have even length except the last). */
export const naiveChecksum = (...parts: Array<ArrayLike<number>>): number => {
  const all: Array<number> = []
  for (const p of parts) for (let i = 0; i < p.length; i++) all.push(p[i])
  return ~naiveFoldedSum(all) & 0xffff
}

/** The 12-byte IPv4 pseudo-header as bytes. */
export const pseudoHeader = (src: number, dst: number, protocol: number, length: number): Array<number> => [
  (src >>> 24) & 255,
  (src >>> 16) & 255,
  (src >>> 8) & 255,
  src & 255,
  (dst >>> 24) & 255,
  (dst >>> 16) & 255,
  (dst >>> 8) & 255,
  dst & 255,
  0,
  protocol,
  (length >>> 8) & 255,
  length & 255,
]

/** Reads a 16-bit big-endian field. */
export const u16 = (b: Uint8Array, off: number): number => (b[off] << 8) | b[off + 1]

/** A copy of `b` with the 16-bit field at `off` zeroed (to recompute a checksum independently). */
export const zeroField = (b: Uint8Array, off: number): Uint8Array => {
  const c = b.slice()
  c[off] = 0
  c[off + 1] = 0
  return c
}

/** Deterministic PRNG (mulberry32) for the bulk robustness loops, seeded per test for replay. */
export const prng = (seed: number): () => number => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Calls every read accessor of a view (every method that is not a setter, `fill*` or the constructor). */
export const touchAll = (view: object, ...args: Array<unknown>): void => {
  const proto = Object.getPrototypeOf(view) as Record<string, unknown>
  for (const name of Object.getOwnPropertyNames(proto)) {
    if (name === "constructor" || name.startsWith("set") || name.startsWith("fill")) continue
    const m = proto[name]
    if (typeof m === "function") (m as (...a: Array<unknown>) => unknown).apply(view, args)
  }
}

/** Random bytes of length `0 ..= maxLen`. */
export const randomBytes = (rnd: () => number, maxLen: number): Uint8Array => {
  const n = Math.floor(rnd() * (maxLen + 1))
  const b = new Uint8Array(n)
  for (let i = 0; i < n; i++) b[i] = (rnd() * 256) | 0
  return b
}

/** A random mutation of `valid`: byte flips, a truncation, an extension, or a mix of them. */
export const mutate = (rnd: () => number, valid: Uint8Array): Uint8Array => {
  let b = valid.slice()
  const kind = Math.floor(rnd() * 4)
  if (kind === 0 || kind === 3) {
    const flips = 1 + Math.floor(rnd() * 4)
    for (let k = 0; k < flips && b.length > 0; k++) b[Math.floor(rnd() * b.length)] ^= 1 + Math.floor(rnd() * 255)
  }
  if (kind === 1 || kind === 3) b = b.subarray(0, Math.floor(rnd() * (b.length + 1)))
  if (kind === 2) {
    const ext = new Uint8Array(b.length + 1 + Math.floor(rnd() * 40))
    ext.set(b)
    for (let i = b.length; i < ext.length; i++) ext[i] = (rnd() * 256) | 0
    b = ext
  }
  // sometimes hand over an unaligned subarray of a bigger buffer
  if (rnd() < 0.25) {
    const backing = new Uint8Array(b.length + 3)
    backing.set(b, 1)
    b = backing.subarray(1, 1 + b.length)
  }
  return b
}

/** Number of random and of mutated inputs per codec in the robustness tests. */
export const ROBUSTNESS_RUNS = 100_000

/**
 * Feeds `ROBUSTNESS_RUNS` random buffers (0..100 bytes) and as many mutations of `valid` packets to `check`, which
 * must parse and touch everything and return how deep it got (true when the Repr parsed too); a throw fails the
 * test with the offending input in hex. Returns how many inputs of each kind went all the way through, so that a
 * test can assert the deep paths were exercised.
 */
export const robustness = (
  seed: number,
  valid: ReadonlyArray<Uint8Array>,
  check: (bytes: Uint8Array, rnd: () => number) => boolean,
): { readonly parsedRandom: number; readonly parsedMutated: number } => {
  const rnd = prng(seed)
  let parsedRandom = 0
  let parsedMutated = 0
  const run = (b: Uint8Array): boolean => {
    try {
      return check(b, rnd)
    } catch (e) {
      throw new Error(`threw on input ${toHex(b)}: ${e instanceof Error ? e.stack : String(e)}`)
    }
  }
  for (let i = 0; i < ROBUSTNESS_RUNS; i++) if (run(randomBytes(rnd, 100))) parsedRandom++
  for (let i = 0; i < ROBUSTNESS_RUNS; i++) {
    if (run(mutate(rnd, valid[Math.floor(rnd() * valid.length)]))) parsedMutated++
  }
  return { parsedRandom, parsedMutated }
}
