import '../../daemon/polyfill.ts'
/** Fuzz cases for names: announcements of records good and bad, and of bytes that are no records at all. */
import { generateKeyPairFromSeed, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { decode, encodingLength } from 'uint8-varint'
import { concat, fromString } from 'uint8arrays'
import { MAX_ADDR_BYTES, MAX_ADDRS, MAX_ANNOUNCE_BYTES, MAX_RECORDS, SIGNING_DOMAIN } from '../../protocol/names/constants.ts'
import { PROTOCOL as NAMES } from '../../protocol/names/index.ts'
import { Announce, NameRecord, Receipt } from '../../protocol/names/pb/names.ts'
import { type Case, field, type Fixtures, framingCase, lp, type Rng } from './harness.ts'

async function sign (key: PrivateKey, record: NameRecord): Promise<NameRecord> {
  const unsigned = NameRecord.encode({ ...record, signature: new Uint8Array(0) })
  const signature = await key.sign(concat([fromString(SIGNING_DOMAIN), unsigned]))
  return { ...record, signature: signature as Uint8Array<ArrayBuffer> }
}

/**
 * Name records good and bad, signed with keys made from the seed (Ed25519 signing is deterministic).
 * The names they claim carry the seed in base 36, so that no run learns another's.
 */
export async function makeRecords (rng: Rng, seed: number): Promise<Pick<Fixtures, 'records' | 'valid' | 'learnable'>> {
  const keys = await Promise.all(Array.from({ length: 6 }, async () => await generateKeyPairFromSeed('Ed25519', rng.bytes(32))))
  const pub = (k: PrivateKey): Uint8Array<ArrayBuffer> => publicKeyToProtobuf(k.publicKey) as Uint8Array<ArrayBuffer>
  const addr = (s: string): Uint8Array<ArrayBuffer> => multiaddr(s).bytes as Uint8Array<ArrayBuffer>
  const goodAddrs = ['/ip4/127.0.0.1/tcp/1', '/ip4/0.0.0.0/tcp/0', '/ip6/::1/tcp/65535', '/dns4/localhost/tcp/9', '/ip4/10.0.0.1/tcp/4001/ws']
  const tag = seed.toString(36)
  const learnable: string[] = []
  const records: Fixtures['records'] = []
  const add = async (label: string, key: PrivateKey, fields: Partial<NameRecord>, after?: (r: NameRecord) => NameRecord): Promise<void> => {
    const signed = await sign(key, { name: 'x.dev', publicKey: pub(key), addrs: [], seq: 1n, signature: new Uint8Array(0), issuedAt: Date.now(), ...fields })
    records.push({ label, record: after != null ? after(signed) : signed })
  }
  for (let i = 0; i < keys.length; i++) {
    const name = `fuzz-${tag}-${i}.dev`
    learnable.push(name)
    await add('valid', keys[i], { name, addrs: [addr(rng.pick(goodAddrs))], seq: 1n })
    await add('valid, newer', keys[i], { name, addrs: goodAddrs.map(addr), seq: BigInt(Date.now()) })
    await add('valid, seq 2^64-1', keys[i], { name: `max-${tag}-${i}.dev`, seq: 2n ** 64n - 1n })
    learnable.push(`max-${tag}-${i}.dev`)
    await add('a name held by another key', keys[(i + 1) % keys.length], { name })
  }
  const k = keys[0]
  for (const name of ['fake.dev', 'fake2.dev']) await add(`claims ${name}`, k, { name, addrs: [addr('/ip4/127.0.0.1/tcp/1')] })
  for (const name of ['', 'UPPER.dev', 'a'.repeat(254), 'nul\0.dev', '..', '-a.dev', 'a..b', 'é.dev', 'x'.repeat(300), 'sp ace.dev', 'a'.repeat(64) + '.dev', '.dev', 'dev.']) {
    await add('invalid name', k, { name })
  }
  await add('17 addresses', k, { name: `many-${tag}.dev`, addrs: Array.from({ length: MAX_ADDRS + 1 }, () => addr('/ip4/127.0.0.1/tcp/1')) })
  await add('an address too long', k, { name: `long-${tag}.dev`, addrs: [new Uint8Array(MAX_ADDR_BYTES + 1).fill(4)] })
  for (let i = 0; i < 4; i++) await add('a garbage address', k, { name: `junk-${tag}-${i}.dev`, addrs: [rng.bytes(1 + rng.int(40))] })
  await add('random signature', k, { name: `sig-${tag}.dev` }, r => ({ ...r, signature: rng.bytes(64) }))
  await add('empty signature', k, { name: `sig-${tag}.dev` }, r => ({ ...r, signature: new Uint8Array(0) }))
  await add('renamed after signing', k, { name: `before-${tag}.dev` }, r => ({ ...r, name: `after-${tag}.dev` }))
  await add('another key\'s signature', keys[1], { name: `other-${tag}.dev` }, r => ({ ...r, publicKey: pub(k) }))
  const keyBytes: Array<[string, Uint8Array<ArrayBuffer>]> = [
    ['empty key', new Uint8Array(0)],
    ['garbage key', rng.bytes(36)],
    ['unknown key type', concat([field.varint(1, 9n), field.bytes(2, rng.bytes(32))]) as Uint8Array<ArrayBuffer>],
    ['RSA key of garbage', concat([field.varint(1, 0n), field.bytes(2, rng.bytes(300))]) as Uint8Array<ArrayBuffer>],
    ['secp256k1 key of garbage', concat([field.varint(1, 2n), field.bytes(2, rng.bytes(33))]) as Uint8Array<ArrayBuffer>],
    ['ECDSA key of garbage', concat([field.varint(1, 3n), field.bytes(2, rng.bytes(91))]) as Uint8Array<ArrayBuffer>],
    ['Ed25519 key of 31 bytes', concat([field.varint(1, 1n), field.bytes(2, rng.bytes(31))]) as Uint8Array<ArrayBuffer>]
  ]
  for (const [label, bytes] of keyBytes) await add(label, k, { name: `key-${tag}.dev` }, r => ({ ...r, publicKey: bytes }))
  return { records, learnable, valid: records.filter(r => r.label.startsWith('valid')).map(r => r.record) }
}

export function announce (rng: Rng, fx: Fixtures, n: number): Uint8Array {
  return Announce.encode({ records: Array.from({ length: n }, () => rng.pick(fx.records).record) })
}

/** What is wrong with B's reply to an announcement of valid records: it must be one receipt, with nothing over quota. */
function receiptProblem (reply: Uint8Array): string | undefined {
  try {
    const length = decode(reply)
    const body = reply.subarray(encodingLength(length))
    if (body.byteLength !== length) return `B answered an announcement with ${reply.byteLength} bytes, not one frame`
    const receipt = Receipt.decode(body)
    return receipt.overQuota === 0 ? undefined : `B dropped ${receipt.overQuota} valid records: ${receipt.reason}`
  } catch (err: any) {
    return `B answered an announcement with no receipt: ${err.message}`
  }
}

/** An announcement of valid records: B reads it, learns the names, answers a receipt and closes. */
export function namesProbe (rng: Rng, fx: Fixtures, all: boolean): Case {
  const records = all ? fx.valid : Array.from({ length: 1 + rng.int(3) }, () => rng.pick(fx.valid))
  return {
    protocol: NAMES,
    kind: 'probe: valid records',
    frames: [lp(Announce.encode({ records }))],
    ending: 'close',
    probe: receiptProblem
  }
}

export function namesCase (rng: Rng, fx: Fixtures): Case {
  const r = rng.next()
  if (r < 0.05) return namesProbe(rng, fx, false)
  if (r < 0.3) return { protocol: NAMES, kind: 'hostile records', frames: [lp(announce(rng, fx, 1 + rng.int(6)))], ending: rng.chance(0.85) ? 'close' : 'keep' }
  if (r < 0.33) return { protocol: NAMES, kind: `${MAX_RECORDS} records`, frames: [lp(announce(rng, fx, MAX_RECORDS))], ending: 'close' }
  if (r < 0.36) return { protocol: NAMES, kind: `${MAX_RECORDS + 1} records`, frames: [lp(announce(rng, fx, MAX_RECORDS + 1))], ending: 'close' }
  if (r < 0.4) {
    // records of random bytes, and records whose fields have the wrong wire types
    const records = Array.from({ length: 1 + rng.int(20) }, () => rng.chance(0.5) ? rng.bytes(rng.size(200)) : concat([field.varint(1, 5n), field.varint(2, 7n), field.bytes(4, rng.bytes(9))]))
    return { protocol: NAMES, kind: 'garbage records', frames: [lp(concat(records.map(b => field.bytes(1, b))))], ending: 'close' }
  }
  if (r < 0.42) {
    // within MAX_ANNOUNCE_BYTES, but a million empty addresses in one record
    const addrs = new Uint8Array(Math.floor(MAX_ANNOUNCE_BYTES / 2) - 100)
    for (let i = 0; i < addrs.byteLength; i += 2) addrs[i] = (3 << 3) | 2
    const record = concat([field.bytes(1, 'addr-bomb.dev'), addrs])
    return { protocol: NAMES, kind: 'half a million addresses', frames: [lp(field.bytes(1, record))], ending: 'close' }
  }
  return framingCase(rng, NAMES, MAX_ANNOUNCE_BYTES, () => announce(rng, fx, 1 + rng.int(3)), () => NameRecord.encode(rng.pick(fx.records).record))
}
