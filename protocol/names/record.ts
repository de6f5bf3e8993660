import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import { concat, fromString } from 'uint8arrays'
import type { PrivateKey } from '@libp2p/interface'
import type { NameEntry } from '../../storage/address-book.ts'
import { MAX_ADDR_BYTES, MAX_ADDRS, SIGNING_DOMAIN } from './constants.ts'
import { isValidName } from './name.ts'
import { NameRecord } from './pb/names.ts'

const domain = fromString(SIGNING_DOMAIN)

function signedBytes (record: NameRecord): Uint8Array {
  return concat([domain, NameRecord.encode({ ...record, signature: new Uint8Array(0) })])
}

export async function signRecord (key: PrivateKey, name: string, addrs: Multiaddr[], seq: bigint): Promise<NameRecord> {
  const unsigned: NameRecord = {
    name,
    publicKey: publicKeyToProtobuf(key.publicKey) as Uint8Array<ArrayBuffer>,
    addrs: addrs.slice(0, MAX_ADDRS).map(a => a.bytes as Uint8Array<ArrayBuffer>),
    seq,
    signature: new Uint8Array(0)
  }
  const signature = await key.sign(signedBytes(unsigned))
  return { ...unsigned, signature: signature as Uint8Array<ArrayBuffer> }
}

export interface VerifiedRecord {
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
    record: NameRecord.encode(record)
  }
  return { entry, addrs }
}
