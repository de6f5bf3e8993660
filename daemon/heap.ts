import { setFlagsFromString } from 'node:v8'

/**
 * The old generation may grow to this percent more than what survived the last full garbage
 * collection before V8 starts the next one.
 *
 * A daemon moving bulk data keeps a small heap (about 14 MB live) but allocates ArrayBuffers
 * fast (each chunk read, each noise message encrypted or decrypted), and V8 counts the
 * ArrayBuffer memory allocated since the last full collection against the old generation's
 * limit. Up to 32 MB of young ArrayBuffers pile up between the scavenges that free them, so a
 * limit with less headroom than that above the live heap starts a full collection again and
 * again, though almost nothing survives it. Left to itself, V8 set the limit so close that a
 * sending daemon ran 86 to 124 full collections per GiB sent; at 200%, 20 to 30 per GiB on
 * each side; at 300%, 1 to 3 per 2 GiB. Measured with --trace-gc and alternating daemon pairs
 * (three 1 GiB downloads each): 300% ran 1.2 to 1.4 times as fast as 200%, the sender's CPU
 * per GB fell from 3.8-5.1 s to 2.6-3.7 s, and the receiver peaked at 139 to 177 MB (141 to
 * 177 at 200%). 400% was no faster than 300%, and took the receiver to 211 MB, past the 200 MB
 * that scripts/bench-transfer.ts holds it to. There, over ten downloads, the receiver's RSS
 * between downloads rose for the first three or four and levelled off at 170 to 187 MB, and
 * peaked at 183 to 192 MB (at 200%: 142 to 153 between downloads, 161 at the peak). 250% was
 * as fast as 300% and no leaner; 200% is the setting to go back to if that margin matters more.
 */
export const HEAP_GROWING_PERCENT = 300

/**
 * Set for the whole process, before the daemon starts. A V8 flag set at run time: this one is
 * read afresh each time V8 computes its next limit, so it takes effect from the first collection.
 */
export function tuneHeapGrowth (): void {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
}
