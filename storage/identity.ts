import { readFile } from 'node:fs/promises'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { writeFileAtomic } from './atomic.ts'

/** The node's Ed25519 key: made at first start, then read back so the peer id never changes. */
export async function loadOrCreateIdentity (path: string): Promise<PrivateKey> {
  try {
    return privateKeyFromProtobuf(await readFile(path))
  } catch (err: any) {
    if (err.code !== 'ENOENT') throw new Error(`cannot read the node key ${path}: ${err.message}`)
  }
  const key = await generateKeyPair('Ed25519')
  await writeFileAtomic(path, privateKeyToProtobuf(key), 0o600)
  return key
}
