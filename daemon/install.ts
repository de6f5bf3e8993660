/**
 * `install NAME:PUBLISHER`: find a release on the network, check it, and install it with its
 * dependencies, trusting no node it comes from.
 *
 * A release is taken only if its record is well formed, its signature holds, and the signing
 * key is the one this node has pinned to the publisher's name (learned through the names
 * protocol, from the publisher or from any peer, first seen wins); its archive only if its size
 * and BLAKE3 are the record's, it unpacks cleanly (storage/archive.ts), and its metadata.json
 * says what the record says. Dependencies are planned and checked before anything is
 * written, and installed first. Each package is unpacked beside its final folder and renamed
 * into place, so an install cut at any point leaves no half-unpacked package: the next one
 * starts clean.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, rename, rm } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Connection, PeerId } from '@libp2p/interface'
import { toString } from 'uint8arrays'
import { describeError, HwdError, printable, UsageError } from '../errors.ts'
import type { Learned, NameService } from '../protocol/names/index.ts'
import { fetchArchive, listReleases, type Release } from '../protocol/packages/index.ts'
import { newestFirst, PACKAGE_ID, releaseId, verifyRelease } from '../protocol/packages/release.ts'
import { fsyncDir } from '../storage/atomic.ts'
import { ArchiveError, unpackArchive } from '../storage/archive.ts'
import type { Command } from './commands.ts'
import { formatBytes } from './format.ts'
import type { HwdLibp2p } from './node.ts'
import { readPackage } from './packages.ts'
import type { Releases } from './releases.ts'

/** Folders being unpacked in `<home>/packages/` start so; the loader skips them, start-up removes them. */
export const INCOMING_PREFIX = '.incoming-'
/** How long a node waits to learn a publisher's name from the peers it asked. */
const LEARN_NAME_MS = 5_000

export class InstallError extends HwdError {
  static name = 'InstallError'
  name = 'InstallError'
}

export interface InstallParts {
  node: HwdLibp2p
  names: NameService
  releases: Releases
  /** `<home>/packages` */
  dir: string
  /** the version of package `id` loaded in this node now, if any */
  present(id: string): string | undefined
}

/** One release to install, checked, and the node it was found on. */
export interface Planned {
  release: Release
  hash: string
  /** the name (or peer id) of the node it comes from */
  from: string
  connection: Connection
}

export interface PlanOptions {
  from?: string
  version?: string
  /** the top release's BLAKE3 in hex: what was shown and agreed to, and nothing else */
  hash?: string
  signal?: AbortSignal
}

export class Installer {
  constructor (private readonly parts: InstallParts) {}

  /** Remove what an install cut by a crash left being unpacked. */
  async clean (): Promise<void> {
    const names = await readdir(this.parts.dir).catch(() => [])
    for (const name of names) {
      if (name.startsWith(INCOMING_PREFIX)) await rm(join(this.parts.dir, name), { recursive: true, force: true })
    }
  }

  /** What installing `id` takes, dependencies first, each checked; nothing is written. */
  async plan (id: string, options: PlanOptions = {}): Promise<Planned[]> {
    const planned: Planned[] = []
    const visit = async (dep: string, stack: string[], top: boolean): Promise<void> => {
      if (stack.includes(dep)) throw new InstallError(`dependency cycle: ${[...stack.slice(stack.indexOf(dep)), dep].join(' → ')}`)
      if (planned.some(p => releaseId(p.release) === dep)) return
      if (!top && this.parts.present(dep) != null) return
      const found = await this.find(dep, top ? options : { signal: options.signal })
      for (const next of found.release.dependencies) await visit(next, [...stack, dep], false)
      planned.push(found)
    }
    await visit(id, [], true)
    return planned
  }

  /** Fetch, check and unpack each planned release in order, calling `load` on each folder as it lands. */
  async install (plan: Planned[], load: (dir: string) => Promise<void>, signal?: AbortSignal): Promise<void> {
    await mkdir(this.parts.dir, { recursive: true })
    for (const p of plan) {
      const id = releaseId(p.release)
      const archive = await fetchArchive(p.connection, p.release, signal).catch(err => {
        throw new InstallError(`${id} ${p.release.version}: fetching it from ${p.from} failed: ${describeError(err)}; nothing installed`)
      })
      const incoming = join(this.parts.dir, `${INCOMING_PREFIX}${randomBytes(6).toString('hex')}`)
      const final = join(this.parts.dir, id)
      try {
        await unpackArchive(archive, incoming)
        await this.checkMetadata(incoming, p.release)
        // an earlier version in place is swapped out whole, never overwritten file by file
        const old = `${incoming}-old`
        await rename(final, old).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err })
        await rename(incoming, final)
        await fsyncDir(this.parts.dir)
        await rm(old, { recursive: true, force: true })
      } catch (err) {
        await rm(incoming, { recursive: true, force: true })
        if (err instanceof ArchiveError || err instanceof InstallError) throw new InstallError(`${id} ${p.release.version} from ${p.from}: ${err.message}; nothing installed`)
        throw err
      }
      await this.parts.releases.add(p.release, p.hash, archive)
      await load(final)
    }
  }

  /** metadata.json inside the archive must say what the signed record says. */
  private async checkMetadata (dir: string, release: Release): Promise<void> {
    const { id, metadata } = await readPackage(dir).catch(err => { throw new InstallError(describeError(err)) })
    const same = (a: string[], b: string[]): boolean => [...a].sort().join('\n') === [...b].sort().join('\n')
    const differs = [
      id !== releaseId(release) && `it is ${id}`,
      metadata.version !== release.version && `its version is ${metadata.version}`,
      !same(metadata.dependencies, release.dependencies) && 'its dependencies differ',
      !same(metadata.capabilities, release.capabilities) && 'its capabilities differ'
    ].filter(Boolean)
    if (differs.length > 0) throw new InstallError(`the archive's metadata.json does not match its signed release: ${differs.join(', ')}`)
  }

  /** The release of `id` to install: the newest (or `version`) that checks out on the first node that has it. */
  private async find (id: string, options: PlanOptions): Promise<Planned> {
    const [, publisher] = id.split(':')
    const asked: string[] = []
    for (const node of this.candidates(publisher, options.from)) {
      let connection: Connection
      let releases: Release[]
      try {
        connection = await this.connect(node, options.signal)
        releases = await listReleases(connection, id, options.signal)
      } catch (err) {
        asked.push(`${node}: ${describeError(err)}`)
        continue
      }
      const wanted = releases
        .filter(r => releaseId(r) === id && (options.version == null || r.version === options.version))
        .sort(newestFirst)
      if (wanted.length === 0) {
        asked.push(`${node}: ${releases.length === 0 ? 'does not have it' : `has no version ${options.version ?? ''}`.trim()}`)
        continue
      }
      const release = wanted[0]
      const hash = toString(release.blake3, 'base16')
      try {
        await this.check(release, publisher, options.signal)
        if (options.hash != null && hash !== options.hash) throw new InstallError(`its archive is ${hash.slice(0, 16)}…, not the ${options.hash.slice(0, 16)}… agreed to`)
      } catch (err) {
        asked.push(`${node}: ${describeError(err)}`)
        continue
      }
      return { release, hash, from: node, connection }
    }
    const where = asked.length === 0 ? 'no node to ask: connect to one that has it, or name one with --from' : `asked ${asked.join('; ')}`
    throw new InstallError(`no node serves ${id}${options.version != null ? ` ${options.version}` : ''} that this node can trust (${printable(where)}); nothing installed`)
  }

  /** The signature holds and is by the key pinned to `publisher`, learning that name first if need be. */
  private async check (release: Release, publisher: string, signal?: AbortSignal): Promise<void> {
    const signer = await verifyRelease(release).catch(err => { throw new InstallError(`its release is refused: ${describeError(err)}`) })
    const pinned = await this.pinned(publisher, signal)
    if (pinned == null) throw new InstallError(`this node does not know ${publisher}'s key, so cannot check who signed it`)
    if (pinned.toString() !== signer) throw new InstallError(`it is signed by ${signer}, not by ${publisher}'s key ${pinned.toString()}`)
  }

  /** The key pinned to `name`, waiting a little for the peers just met to tell us of it. */
  private async pinned (name: string, signal?: AbortSignal): Promise<PeerId | undefined> {
    const now = (): PeerId | undefined => { try { return this.parts.names.resolve(name) } catch { return undefined } }
    const known = now()
    if (known != null) return known
    return await new Promise<PeerId | undefined>(resolve => {
      const done = (): void => {
        clearTimeout(timer)
        this.parts.names.removeEventListener('learned', onLearned)
        signal?.removeEventListener('abort', done)
        resolve(now())
      }
      const onLearned = (evt: Event): void => { if ((evt as CustomEvent<Learned>).detail.name === name) done() }
      const timer = setTimeout(done, LEARN_NAME_MS)
      this.parts.names.addEventListener('learned', onLearned)
      signal?.addEventListener('abort', done)
    })
  }

  /** Where to look: `--from` alone; else the publisher, then every connected node. */
  private candidates (publisher: string, from?: string): string[] {
    if (from != null) return [from]
    const { node, names } = this.parts
    const connected = node.getPeers().map(p => names.nameOf(p) ?? p.toString())
    return [...new Set([publisher, ...connected])].filter(n => n !== names.name)
  }

  private async connect (node: string, signal?: AbortSignal): Promise<Connection> {
    const peer = this.parts.node.getPeers().find(p => p.toString() === node)
    if (peer != null) return await this.parts.node.dial(peer, { signal })
    return await this.parts.names.connect(node, { signal })
  }
}

/** `install NAME:PUBLISHER [--from NODE] [--version V] [--yes]`, at the prompt and through `hwd install`. */
export function installCommand (installer: Installer, present: (id: string) => string | undefined, load: (dir: string) => Promise<string[]>): Command {
  return {
    name: 'install',
    args: 'NAME:PUBLISHER [--from NODE] [--version V] [--yes]',
    summary: 'fetch a package and what it depends on from the network, check who signed it, and load it',
    minArgs: 1,
    async run (args, out, signal) {
      const { values, positionals } = parseArgs({
        args,
        options: { from: { type: 'string' }, version: { type: 'string' }, hash: { type: 'string' }, yes: { type: 'boolean', default: false } },
        allowPositionals: true
      })
      if (positionals.length !== 1 || !PACKAGE_ID.test(positionals[0])) throw new UsageError('usage: install NAME:PUBLISHER [--from NODE] [--version V] [--yes]')
      const id = positionals[0]
      const installed = present(id)
      if (installed != null) throw new InstallError(`${id} ${installed} is installed already${values.version != null && values.version !== installed ? `; uninstall it first to install ${values.version}` : ''}`)
      const plan = await installer.plan(id, { from: values.from, version: values.version, hash: values.hash, signal })
      for (const p of plan) {
        out.line(`${releaseId(p.release)} ${p.release.version} from ${p.from}: ${formatBytes(p.release.size)}, blake3 ${p.hash.slice(0, 16)}…, signed by ${p.release.publisher}`)
        out.line(`  asks for: ${p.release.capabilities.length > 0 ? p.release.capabilities.join(', ') : 'nothing beyond its own drive'}`)
        if (p.release.dependencies.length > 0) out.line(`  depends on: ${p.release.dependencies.join(', ')}`)
      }
      const top = plan[plan.length - 1]
      if (!values.yes) {
        const argv = ['install', id, '--from', top.from, '--version', top.release.version, '--hash', top.hash, '--yes']
        const question = `install ${plan.length > 1 ? `these ${plan.length} packages` : 'it'}, granting what it asks for?`
        if (out.ask != null) out.ask(question, argv)
        else out.line(`not installed yet; to install, type: ${argv.join(' ')}`)
        return
      }
      await installer.install(plan, async dir => {
        const scripts = await load(dir)
        out.line(`installed ${basename(dir)}${scripts.length > 0 ? `: ${scripts.join(', ')}` : ''}`)
      }, signal)
    }
  }
}
