import { publicKeyFromProtobuf, publicKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPublicKey } from '@libp2p/peer-id'
import { concat, fromString } from 'uint8arrays'
import type { PrivateKey } from '@libp2p/interface'
import { HwdError, quoted } from '../../errors.ts'
import { isValidName } from '../names/name.ts'
import { MAX_CAPABILITIES, MAX_DEPENDENCIES, MAX_FIELD_BYTES, SIGNING_DOMAIN, VERSION } from './constants.ts'
import { Release } from './pb/packages.ts'

const domain = fromString(SIGNING_DOMAIN)
/** A package's name: lower-case letters, digits and hyphens. */
export const PACKAGE_NAME = /^[a-z0-9](?:[a-z0-9-]{0,62})$/
/** A publisher: a lower-case DNS-like name such as template.os. */
export const PUBLISHER_NAME = /^[a-z0-9](?:[a-z0-9.-]{0,252})$/
/** `name:publisher` */
export const PACKAGE_ID = new RegExp(`${PACKAGE_NAME.source.slice(0, -1)}:${PUBLISHER_NAME.source.slice(1)}`)

export class ReleaseError extends HwdError {
  static name = 'ReleaseError'
  name = 'ReleaseError'
}

/** What a release says, before it is signed. */
export type ReleaseFields = Omit<Release, 'publicKey' | 'signature'>

function signedBytes (release: Release): Uint8Array {
  return concat([domain, Release.encode({ ...release, signature: new Uint8Array(0) })])
}

export async function signRelease (key: PrivateKey, fields: ReleaseFields): Promise<Release> {
  const unsigned: Release = { ...fields, publicKey: publicKeyToProtobuf(key.publicKey) as Uint8Array<ArrayBuffer>, signature: new Uint8Array(0) }
  checkFields(unsigned)
  return { ...unsigned, signature: await key.sign(signedBytes(unsigned)) as Uint8Array<ArrayBuffer> }
}

/**
 * Check a release from the network field by field and its signature; returns the peer id of
 * the key that signed it. Whether that key may publish for `publisher` is the caller's to
 * decide, against the key pinned to that name.
 */
export async function verifyRelease (release: Release): Promise<string> {
  checkFields(release)
  let key
  try {
    key = publicKeyFromProtobuf(release.publicKey)
  } catch {
    throw new ReleaseError('its key is malformed')
  }
  if (!await key.verify(signedBytes(release), release.signature)) throw new ReleaseError('its signature is bad')
  return peerIdFromPublicKey(key).toString()
}

function checkFields (r: Release): void {
  if (!PACKAGE_NAME.test(r.package)) throw new ReleaseError('its package name is malformed')
  if (!isValidName(r.publisher)) throw new ReleaseError('its publisher is not a node name')
  if (!VERSION.test(r.version)) throw new ReleaseError('its version is not MAJOR.MINOR.PATCH')
  if (r.blake3.byteLength !== 32) throw new ReleaseError('its hash is not 32 bytes')
  if (r.capabilities.length > MAX_CAPABILITIES) throw new ReleaseError(`it asks for more than ${MAX_CAPABILITIES} capabilities`)
  if (r.dependencies.length > MAX_DEPENDENCIES) throw new ReleaseError(`it has more than ${MAX_DEPENDENCIES} dependencies`)
  if (!r.capabilities.every(c => c.length > 0 && Buffer.byteLength(c) <= MAX_FIELD_BYTES && /^[a-z0-9:.-]+$/.test(c))) throw new ReleaseError('a capability is malformed')
  const badDep = r.dependencies.find(d => !PACKAGE_ID.test(d))
  if (badDep != null) throw new ReleaseError(`its dependency ${quoted(badDep.slice(0, 80))} is not package:publisher`)
}

/** `photos:fake2.dev` */
export function releaseId (r: Pick<Release, 'package' | 'publisher'>): string {
  return `${r.package}:${r.publisher}`
}

/** Newest first: by MAJOR, then MINOR, then PATCH. */
export function newestFirst (a: Pick<Release, 'version'>, b: Pick<Release, 'version'>): number {
  const [x, y] = [a, b].map(r => r.version.split('.').map(Number))
  return (y[0] - x[0]) || (y[1] - x[1]) || (y[2] - x[2])
}
