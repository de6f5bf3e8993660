import { createHash } from 'node:crypto'
import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { concat, fromString } from 'uint8arrays'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import type { NameEntry } from '../../storage/address-book.ts'
import { MAX_ADDR_BYTES, MAX_ADDRS, SIGNING_DOMAIN } from './constants.ts'
import { isValidName } from './name.ts'
import { NameRecord } from './pb/names.ts'

const domain = fromString(SIGNING_DOMAIN)

function signedBytes (record: NameRecord): Uint8Array {
  return concat([domain, NameRecord.encode({ ...record, signature: new Uint8Array(0) })])
}

/** Our record for `name`, issued at `issuedAt` (ms since the epoch). */
export async function signRecord (key: PrivateKey, name: string, addrs: Multiaddr[], seq: bigint, issuedAt: number): Promise<NameRecord> {
  const unsigned: NameRecord = {
    name,
    publicKey: publicKeyToProtobuf(key.publicKey) as Uint8Array<ArrayBuffer>,
    addrs: addrs.slice(0, MAX_ADDRS).map(a => a.bytes as Uint8Array<ArrayBuffer>),
    seq,
    signature: new Uint8Array(0),
    issuedAt
  }
  const signature = await key.sign(signedBytes(unsigned))
  return { ...unsigned, signature: signature as Uint8Array<ArrayBuffer> }
}

export interface VerifiedRecord {
  /** the entry a book keeps, as if first-hand and learned now */
  entry: NameEntry
  addrs: Multiaddr[]
}

/** Check a record that came from the network; throws on anything malformed or badly signed. */
export async function verifyRecord (record: NameRecord): Promise<VerifiedRecord> {
  if (!isValidName(record.name)) throw new Error('invalid name')
  if (record.addrs.length > MAX_ADDRS) throw new Error('too many addresses')
  const key = publicKeyFromProtobuf(record.publicKey)
  if (!await key.verify(signedBytes(record), record.signature)) throw new Error('bad signature')
  const addrs = record.addrs.map(bytes => {
    if (bytes.byteLength > MAX_ADDR_BYTES) throw new Error('address too long')
    return multiaddr(bytes)
  })
  const entry: NameEntry = {
    name: record.name,
    peerId: peerIdFromPublicKey(key).toString(),
    seq: record.seq,
    record: NameRecord.encode(record),
    issuedAt: record.issuedAt,
    learnedAt: Date.now(),
    trusted: false
  }
  return { entry, addrs }
}

/**
 * A key's fingerprint as SSH prints one (`SHA256:` and the unpadded base64 of the SHA-256 of
 * the key, here in libp2p's protobuf encoding), to compare with what its holder's `hwd status` says.
 */
export function fingerprint (peerId: PeerId): string {
  if (peerId.publicKey == null) return '?'
  return 'SHA256:' + createHash('sha256').update(publicKeyToProtobuf(peerId.publicKey)).digest('base64').replace(/=+$/, '')
}
