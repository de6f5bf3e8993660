import { setFlagsFromString } from 'node:v8'

/**
 * The old generation may grow to this percent more than what survived the last full garbage
 * collection before V8 starts the next one.
 *
 * Left to itself, V8 sets that limit from how fast it collects, and for a daemon whose heap is
 * small (about 15 MB) while it moves bulk data, the limit sat so close to the heap's size that
 * a full collection began again almost as soon as one ended: 86 to 124 of them while a daemon
 * sent a 1 GiB file, which took 7.1 to 10.4 s of its CPU. At 200%, it ran 49 to 53 and took
 * 5.7 s. More would cut them further (400%: 2), but the heap may grow to about 1 + percent/100
 * times what is live, and at 400% a receiving daemon's peak memory passed 200 MB; at 200% it
 * stayed under 180 MB (scripts/bench-transfer.ts measures both).
 */
export const HEAP_GROWING_PERCENT = 200

/**
 * Set for the whole process, before the daemon starts. A V8 flag set at run time: this one is
 * read afresh each time V8 computes its next limit, so it takes effect from the first collection.
 */
export function tuneHeapGrowth (): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
}
