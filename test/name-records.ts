import { generateKeyPair } from '@libp2p/crypto/keys'
import { pbStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { MAX_RECORDS, PROTOCOL as NAMES } from '../protocol/names/constants.ts'
import { Announce, NameRecord, Receipt } from '../protocol/names/pb/names.ts'
import { signRecord } from '../protocol/names/record.ts'
import type { TestNode } from './helpers.ts'
import type { RawPeer } from './raw-peer.ts'

/** `count` valid records for `prefix-N.dev`, each signed by a key of its own, issued at `issuedAt`. */
export async function signedRecords (count: number, prefix: string, issuedAt = Date.now()): Promise<NameRecord[]> {
  return await Promise.all(Array.from({ length: count }, async (_, i) => {
    const key = await generateKeyPair('Ed25519')
    return await signRecord(key, `${prefix}-${i}.dev`, [], BigInt(issuedAt), issuedAt)
  }))
}

/** Announce `records` on `stream` as the protocol says, in one announcement, and read the receipt. */
export async function announceOn (stream: Stream, records: NameRecord[]): Promise<Receipt> {
  if (records.length > MAX_RECORDS) throw new Error(`at most ${MAX_RECORDS} records in one announcement`)
  const pb = pbStream(stream)
  await pb.write({ records }, Announce)
  const receipt = await pb.read(Receipt, { signal: AbortSignal.timeout(30_000) })
  await stream.close()
  return receipt
}

/**
 * Announce every record to `node` from `raw`, MAX_RECORDS to an announcement, `streams`
 * announcements in flight, each waiting for its receipt; the receipts summed, with the last
 * reason given.
 */
export async function announceAll (raw: RawPeer, node: TestNode, records: NameRecord[], streams = 1): Promise<Receipt> {
  let next = 0
  const sum: Receipt = { kept: 0, overQuota: 0, reason: '' }
  await Promise.all(Array.from({ length: streams }, async () => {
    while (next < records.length) {
      const batch = records.slice(next, next + MAX_RECORDS)
      next += MAX_RECORDS
      const receipt = await announceOn(await raw.open(node.addr, NAMES), batch)
      sum.kept += receipt.kept
      sum.overQuota += receipt.overQuota
      if (receipt.reason !== '') sum.reason = receipt.reason
    }
  }))
  return sum
}
