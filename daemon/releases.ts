import { resolve } from 'node:path'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { logger } from '@libp2p/logger'
import { toString } from 'uint8arrays'
import { asError, HwdError } from '../errors.ts'
import { ArchiveError, packFolder } from '../storage/archive.ts'
import { ReleaseStore } from '../storage/releases.ts'
import { newBlake3 } from '../protocol/file-transfer/hash.ts'
import { MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, MAX_UPLOADS, MAX_UPLOADS_PER_PEER, PROTOCOL, Release, serveRequest, VERSION } from '../protocol/packages/index.ts'
import { newestFirst, ReleaseError, releaseId, signRelease, verifyRelease } from '../protocol/packages/release.ts'
import type { Command } from './commands.ts'
import { Serial } from './serial.ts'
import type { HwdLibp2p } from './node.ts'
import { BUILTIN_PACKAGES, readPackage } from './packages.ts'

const log = logger('hwd:releases')

export class PublishError extends HwdError {
  static name = 'PublishError'
  name = 'PublishError'
}

export interface ReleasesParts {
  node: HwdLibp2p
  privateKey: PrivateKey
  /** this node's name: the only publisher it signs for */
  name: string
  /** `<home>/releases` */
  dir: string
  /** serve the releases installed here too, not only those published here */
  mirror: boolean
}

interface Held {
  release: Release
  hash: string
}

/**
 * The releases this node holds, and the packages protocol that serves them: those it
 * published, and, as a mirror, those it installed. Records are checked again when read from
 * disk, so a home copied from elsewhere cannot make this node serve what its owner never
 * signed or installed.
 */
export class Releases {
  private readonly held: Held[] = []
  /** archives going out, by peer */
  private readonly uploads = new Map<string, number>()
  private readonly controller = new AbortController()
  private refusal: (peer: PeerId) => string | undefined = () => undefined
  /** publishes one at a time: two of one version at once must not both pass the check */
  private readonly publishing = new Serial()

  private constructor (private readonly parts: ReleasesParts, private readonly store: ReleaseStore) {}

  static async open (parts: ReleasesParts): Promise<Releases> {
    const { store, stored } = await ReleaseStore.open(parts.dir)
    const releases = new Releases(parts, store)
    const own = peerIdFromPrivateKey(parts.privateKey).toString()
    for (const { hash, record } of stored) {
      try {
        const release = Release.decode(record)
        const signer = await verifyRelease(release)
        if (toString(release.blake3, 'base16') !== hash) throw new Error('its hash is not its file name')
        // ours only if our key signed it; another's was checked against its publisher's pin when installed
        if (release.publisher === parts.name && signer !== own) throw new Error('it names this node as publisher but another key signed it')
        releases.held.push({ release, hash })
      } catch (err) {
        log.error('skipping stored release %s - %e', hash, err)
      }
    }
    return releases
  }

  /** Serve the releases to peers that `refusal` lets through (the node's access list). */
  async start (refusal: (peer: PeerId) => string | undefined): Promise<void> {
    this.refusal = refusal
    await this.parts.node.handle(PROTOCOL, async (stream, connection) => {
      await serveRequest(stream, connection.remotePeer.toString(), this.source).catch(err => {
        log('request failed - %e', err)
        stream.abort(asError(err))
      })
    }, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_OUTBOUND_STREAMS, runOnLimitedConnection: false })
  }

  async stop (): Promise<void> {
    this.controller.abort()
    await this.parts.node.unhandle(PROTOCOL)
  }

  /** What the protocol serves: ours always, others' only as a mirror. */
  private readonly source = {
    list: (id: string) => this.served().filter(h => id === '' || releaseId(h.release) === id).map(h => h.release),
    archive: async (hash: string) => {
      if (!this.held.some(h => h.hash === hash && this.serves(h))) return undefined
      return { path: this.store.archivePath(hash), size: await this.store.archiveSize(hash) }
    },
    refusal: (peer: string) => this.refusal(peerIdFromString(peer)),
    take: (peer: string) => {
      const mine = this.uploads.get(peer) ?? 0
      const total = [...this.uploads.values()].reduce((a, b) => a + b, 0)
      if (mine >= MAX_UPLOADS_PER_PEER || total >= MAX_UPLOADS) return false
      this.uploads.set(peer, mine + 1)
      return true
    },
    free: (peer: string) => {
      const left = (this.uploads.get(peer) ?? 1) - 1
      if (left > 0) this.uploads.set(peer, left)
      else this.uploads.delete(peer)
    },
    signal: this.controller.signal
  }

  private served (): Held[] {
    return this.held.filter(h => this.serves(h)).sort((a, b) => newestFirst(a.release, b.release))
  }

  /** Ours always, others' only as a mirror. */
  private serves (h: Held): boolean {
    return this.parts.mirror || h.release.publisher === this.parts.name
  }

  /** Keep and serve a release (one published elsewhere is served only as a mirror). */
  async add (release: Release, hash: string, archive: Uint8Array): Promise<void> {
    if (this.held.some(h => h.hash === hash)) return
    await this.store.add(hash, Release.encode(release), archive)
    this.held.push({ release, hash })
  }

  /** Stop serving the releases of `id` installed here (ours stay): it is no longer installed. */
  async forget (id: string): Promise<void> {
    for (const held of this.held.filter(h => releaseId(h.release) === id && h.release.publisher !== this.parts.name)) {
      this.held.splice(this.held.indexOf(held), 1)
      await this.store.remove(held.hash)
    }
  }

  /** The hash of the release of `id` at `version` held here, if any. */
  hashOf (id: string, version: string): string | undefined {
    return this.held.find(h => releaseId(h.release) === id && h.release.version === version)?.hash
  }

  /**
   * Pack, sign and serve the package folder `dir` as a release of this node. Publishing the
   * same folder again changes nothing; a version already published with other contents is
   * refused, so a version always names one archive.
   */
  async publish (dir: string): Promise<{ release: Release, hash: string, again: boolean }> {
    return await this.publishing.run(async () => await this.publishNow(dir))
  }

  private async publishNow (dir: string): Promise<{ release: Release, hash: string, again: boolean }> {
    const { id, dir: folder, metadata } = await readPackage(resolve(dir))
    const builtins = await Promise.all(BUILTIN_PACKAGES.map(async d => (await readPackage(d)).id))
    if (builtins.includes(id)) throw new PublishError(`${id} is built in: every node has it, so it is not published`)
    if (metadata.publisher !== this.parts.name) {
      throw new PublishError(`${id} names ${metadata.publisher} as its publisher, but this node is ${this.parts.name}: a node publishes only its own packages (set "publisher": "${this.parts.name}" in metadata.json)`)
    }
    if (!VERSION.test(metadata.version)) throw new PublishError(`${id}: version ${JSON.stringify(metadata.version)} is not MAJOR.MINOR.PATCH, such as 0.1.0`)
    let archive: Buffer
    try {
      archive = await packFolder(folder)
    } catch (err) {
      throw err instanceof ArchiveError ? new PublishError(`cannot publish ${id} from ${dir}: ${err.message}`) : err
    }
    const hasher = newBlake3()
    hasher.update(archive)
    const blake3 = hasher.digestBuffer()
    const hash = toString(blake3, 'base16')
    const same = this.held.find(h => releaseId(h.release) === id && h.release.version === metadata.version)
    if (same != null) {
      if (same.hash === hash) return { release: same.release, hash, again: true }
      throw new PublishError(`${id} ${metadata.version} is already published with other contents; raise the version in metadata.json`)
    }
    const release = await signRelease(this.parts.privateKey, {
      package: metadata.package_name,
      publisher: metadata.publisher,
      version: metadata.version,
      blake3: blake3 as Uint8Array<ArrayBuffer>,
      size: archive.byteLength,
      capabilities: metadata.capabilities,
      dependencies: metadata.dependencies
    }).catch(err => { throw err instanceof ReleaseError ? new PublishError(`cannot publish ${id}: ${err.message}`) : err })
    await this.add(release, hash, archive)
    return { release, hash, again: false }
  }
}

/** `publish DIR`, at the prompt and through `hwd publish DIR`. */
export function publishCommand (releases: Releases): Command {
  return {
    name: 'publish',
    args: 'DIR',
    summary: 'pack the package folder DIR, sign it as this node, and serve it to other nodes',
    minArgs: 1,
    maxArgs: 1,
    async run ([dir], out) {
      const { release, hash, again } = await releases.publish(dir)
      out.line(`${again ? 'already published' : 'published'} ${releaseId(release)} ${release.version} blake3 ${hash.slice(0, 16)}…`)
    }
  }
}
