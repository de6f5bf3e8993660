import { mkdir } from 'node:fs/promises'
import { join, resolve } from 'node:path'

/**
 * The layout of a node's home. Every path under it is named here and nowhere else.
 */
export interface HomePaths {
  readonly root: string
  readonly identityKey: string
  /** held by the running daemon, and naming its pid */
  readonly lock: string
  /** held only while a daemon takes or lets go of `lock` */
  readonly lockGate: string
  readonly socket: string
  readonly addressBook: string
  /** the address book as it was kept before `addressBook`, migrated from at start */
  readonly legacyAddressBook: string
  /** which nodes may use this one (storage/access-list.ts) */
  readonly accessList: string
  readonly vfs: string
  /** packages installed in this home, one folder each, loaded at start */
  readonly packages: string
  /** each package's private state (such as the chat history), one folder per package id */
  readonly state: string
  /** the releases this node serves: archives and their signed records */
  readonly releases: string
  /** the key to the node's web page (mode 0600): whoever holds it is the node's owner there */
  readonly webSecret: string
}

export function homePaths (dir: string): HomePaths {
  const root = resolve(dir)
  return {
    root,
    identityKey: join(root, 'identity.key'),
    lock: join(root, 'hwd.lock'),
    lockGate: join(root, 'hwd.lock.gate'),
    socket: join(root, 'hwd.sock'),
    addressBook: join(root, 'names.log'),
    legacyAddressBook: join(root, 'names.json'),
    accessList: join(root, 'access.json'),
    vfs: join(root, 'vfs'),
    packages: join(root, 'packages'),
    state: join(root, 'state'),
    releases: join(root, 'releases'),
    webSecret: join(root, 'web.secret')
  }
}

export async function ensureHome (paths: HomePaths): Promise<void> {
  await mkdir(paths.root, { recursive: true, mode: 0o700 })
  await mkdir(paths.vfs, { recursive: true })
}
