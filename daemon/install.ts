/**
 * `install NAME:PUBLISHER`: find a release on the network, check it, and install it with its
 * dependencies, trusting no node it comes from.
 *
 * A release is taken only if its record is well formed, its signature holds, and the signing
 * key is the one this node has pinned to the publisher's name (learned through the names
 * protocol, from the publisher or from any peer, as `names` shows); its archive only if its size
 * and BLAKE3 are the record's, it unpacks cleanly (storage/archive.ts), and its metadata.json
 * says what the record says. Every candidate node is asked, and the newest release that checks
 * out on any of them is taken, with every node that listed it as a source: a fetch that fails
 * on one tries the next. Dependencies are planned and checked before anything is written, and
 * installed first. Each package is unpacked beside its final folder and renamed
 * into place, so an install cut at any point leaves no half-unpacked package: the next one
 * starts clean.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import type { Connection, PeerId } from '@libp2p/interface'
import { toString } from 'uint8arrays'
import { describeError, HwdError, printable, UsageError } from '../errors.ts'
import { fingerprint, type Learned, type NameService } from '../protocol/names/index.ts'
import { fetchArchive, listReleases, type Release } from '../protocol/packages/index.ts'
import { newestFirst, PACKAGE_ID, releaseId, verifyRelease } from '../protocol/packages/release.ts'
import { fsyncDir } from '../storage/atomic.ts'
import { ArchiveError, unpackArchive } from '../storage/archive.ts'
import type { Command } from './commands.ts'
import { Serial } from './serial.ts'
import { formatBytes } from './format.ts'
import type { HwdLibp2p } from './node.ts'
import { readPackage, type PackageHost } from './packages.ts'
import type { Releases } from './releases.ts'

/** Folders being unpacked in `<home>/packages/` start so; the loader skips them, start-up removes them. */
export const INCOMING_PREFIX = '.incoming-'
/** How long a node waits to learn a publisher's name from the peers it asked. */
const LEARN_NAME_MS = 5_000
/** How many of a node's newest releases of a package are checked, looking for one that holds. */
const CHECKED_PER_NODE = 3
/**
 * The most nodes asked for one package, at once: the publisher and the connected nodes are
 * few; a node with many peers asks the first of them, not all, so one install stays cheap.
 */
const MAX_ASKED = 16
/** The most releases one install may bring: a package with its dependencies, theirs, and so on. */
const MAX_PLAN = 64
/** How long a dependency missing at start is looked for while the node's peers connect. */
const DEPENDENCY_WAIT_MS = 10_000
const DEPENDENCY_RETRY_MS = 1_000

export class InstallError extends HwdError {
  static name = 'InstallError'
  name = 'InstallError'
}

/** No node asked had a release that checks out: one connected later may. */
class NotServedError extends InstallError {
  static name = 'NotServedError'
  name = 'NotServedError'
}

export interface InstallParts {
  node: HwdLibp2p
  names: NameService
  releases: Releases
  /** `<home>/packages` */
  dir: string
  packages: PackageHost
}

/** A node that listed a release: its name (or peer id), and the connection it was asked on. */
export interface Source {
  from: string
  connection: Connection
}

/** One release to install, checked, and the nodes that listed it. */
export interface Planned {
  release: Release
  hash: string
  /** in the order they are asked for its archive, the first of them shown as where it comes from */
  sources: Source[]
  /** the fingerprint of the publisher's key that signed it, as `names` shows it */
  key: string
}

/** A release that checks out on one node. */
type Checked = Omit<Planned, 'sources'> & Source

/** Where an archive came from, and what the nodes before it said instead of delivering it. */
export interface Fetched {
  from: string
  failed: string[]
}

export interface PlanOptions {
  from?: string
  version?: string
  /** every planned release's BLAKE3 in hex: what was shown and agreed to, and nothing else */
  hashes?: string[]
  signal?: AbortSignal
}

export class Installer {
  /** installs and uninstalls, one at a time: two must never swap one folder */
  private readonly changes = new Serial()

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
      if (!top && this.present(dep) != null) return
      if (planned.length >= MAX_PLAN) throw new InstallError(`${id} brings more than ${MAX_PLAN} packages with its dependencies`)
      const found = await this.find(dep, top ? options : { signal: options.signal })
      for (const next of found.release.dependencies) await visit(next, [...stack, dep], false)
      planned.push(found)
    }
    await visit(id, [], true)
    if (options.hashes != null && [...options.hashes].sort().join() !== planned.map(p => p.hash).sort().join()) {
      throw new InstallError(`what installing ${id} takes has changed since it was shown (a new release, or another node answering); nothing installed: run install again to see it`)
    }
    return planned
  }

  /** The version of package `id` loaded in this node now, if any. */
  present (id: string): string | undefined {
    return this.parts.packages.list().find(p => p.id === id)?.metadata.version
  }

  /**
   * A dependency that a package loaded at start lacks, installed as `install --yes` would and
   * announced on the terminal, if it (and all it brings) asks for nothing beyond its own drive:
   * nobody was asked. Looked for over DEPENDENCY_WAIT_MS, while the node's peers connect and
   * tell it their names.
   */
  async fetchDependency (id: string, signal: AbortSignal, print: (text: string) => void): Promise<void> {
    const until = Date.now() + DEPENDENCY_WAIT_MS
    for (;;) {
      try {
        const plan = await this.plan(id, { signal })
        const asking = plan.find(p => p.release.capabilities.length > 0)
        if (asking != null) throw new InstallError(`${releaseId(asking.release)} asks for ${holds(asking.release)}: nothing is granted unasked at start; review it with: hwd install ${id}`)
        await this.install(plan, (p, scripts, fetched) => {
          const note = fellBack(p, fetched)
          if (note != null) print(note)
          print(`${describePlanned(p)}, holding ${holds(p.release)}: installed${scripts.length > 0 ? `: ${scripts.join(', ')}` : ''}`)
        }, signal)
        return
      } catch (err) {
        if (!(err instanceof NotServedError) || Date.now() > until) throw err
        await sleep(DEPENDENCY_RETRY_MS, undefined, { signal })
      }
    }
  }

  /** Stop an installed package and remove its folder; its drive and state stay. Its version. */
  async uninstall (id: string): Promise<string> {
    return await this.changes.run(async () => {
      const pkg = this.parts.packages.list().find(p => p.id === id)
      if (pkg == null) throw new InstallError(`${id} is not installed`)
      const dir = join(this.parts.dir, id)
      if (pkg.sandbox != null && pkg.dir !== dir) throw new InstallError(`${id} was not installed: it is loaded from ${pkg.dir}`)
      await this.parts.packages.unload(id)
      await this.remove(dir)
      await this.parts.releases.forget(id)
      return pkg.metadata.version
    })
  }

  /** A package folder removed: aside first, under the prefix start-up clears, so a crash midway leaves nothing loadable. */
  private async remove (dir: string): Promise<void> {
    const aside = join(this.parts.dir, `${INCOMING_PREFIX}${randomBytes(6).toString('hex')}-old`)
    const moved = await rename(dir, aside).then(() => true, (err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; return false })
    if (!moved) return
    await fsyncDir(this.parts.dir)
    await rm(aside, { recursive: true, force: true })
  }

  /**
   * Fetch, check and unpack each planned release in order, loading each as it lands, one
   * install at a time. A release is kept and mirrored only once its package has loaded; a
   * failure says which of the plan did get installed before it.
   */
  async install (plan: Planned[], onInstalled: (p: Planned, scripts: string[], fetched: Fetched) => void, signal?: AbortSignal): Promise<void> {
    await this.changes.run(async () => {
      await mkdir(this.parts.dir, { recursive: true })
      const done: string[] = []
      for (const p of plan) {
        const id = releaseId(p.release)
        const failed = (why: string, from?: string): InstallError => new InstallError(`${id} ${p.release.version}${from != null ? ` from ${from}` : ''}: ${why}; ${done.length > 0 ? `installed before it: ${done.join(', ')}` : 'nothing installed'}`)
        // another install, queued before this one, may have brought it as a dependency
        if (this.present(id) != null) continue
        signal?.throwIfAborted()
        let archive: Uint8Array
        let fetched: Fetched
        try {
          ({ archive, ...fetched } = await this.fetch(p, signal))
        } catch (err) {
          throw failed(describeError(err))
        }
        const incoming = join(this.parts.dir, `${INCOMING_PREFIX}${randomBytes(6).toString('hex')}`)
        const final = join(this.parts.dir, id)
        try {
          await unpackArchive(archive, incoming)
          await this.checkMetadata(incoming, p.release)
          // a folder there that is not loaded (it failed to, or was copied by hand) is swapped out whole
          await this.remove(final)
          await rename(incoming, final)
          await fsyncDir(this.parts.dir)
        } catch (err) {
          await rm(incoming, { recursive: true, force: true })
          if (err instanceof ArchiveError || err instanceof InstallError) throw failed(err.message, fetched.from)
          throw err
        }
        let scripts: string[]
        try {
          scripts = await this.parts.packages.loadInstalled(final)
        } catch (err) {
          await this.remove(final)
          throw failed(`it did not load: ${describeError(err)}`, fetched.from)
        }
        await this.parts.releases.add(p.release, p.hash, archive)
        done.push(id)
        onInstalled(p, scripts, fetched)
      }
    })
  }

  /**
   * The archive of `p`, checked against its record, from the first of its sources that
   * delivers it: one that cuts the fetch, refuses it or sends other bytes is passed over.
   */
  private async fetch (p: Planned, signal?: AbortSignal): Promise<Fetched & { archive: Uint8Array }> {
    const failed: string[] = []
    for (const { from, connection } of p.sources) {
      signal?.throwIfAborted()
      try {
        return { archive: await fetchArchive(connection, p.release, signal), from, failed }
      } catch (err) {
        failed.push(`${from}: ${describeError(err)}`)
      }
    }
    throw new InstallError(`no node delivered its archive (asked ${printable(failed.join('; '))})`)
  }

  /** metadata.json inside the archive must say what the signed record says. */
  private async checkMetadata (dir: string, release: Release): Promise<void> {
    // not naming the unpacking folder, gone by the time anyone reads the error
    const { id, metadata } = await readPackage(dir, '').catch(err => { throw new InstallError(describeError(err)) })
    const same = (a: string[], b: string[]): boolean => [...a].sort().join('\n') === [...b].sort().join('\n')
    const differs = [
      id !== releaseId(release) && `it is ${id}`,
      metadata.version !== release.version && `its version is ${printable(metadata.version)}`,
      !same(metadata.dependencies, release.dependencies) && 'its dependencies differ',
      !same(metadata.capabilities, release.capabilities) && 'its capabilities differ'
    ].filter(Boolean)
    if (differs.length > 0) throw new InstallError(`the archive's metadata.json does not match its signed release: ${differs.join(', ')}`)
  }

  /**
   * The release of `id` to install: the newest (or `version`) that checks out on any node
   * asked, with every node that listed that same release (same BLAKE3) as a source.
   */
  private async find (id: string, options: PlanOptions): Promise<Planned> {
    const [, publisher] = id.split(':')
    // one wait for the publisher's key, however many nodes are asked at once
    let pinning: Promise<PeerId | undefined> | undefined
    const pinned = async (): Promise<PeerId | undefined> => await (pinning ??= this.pinned(publisher, options.signal))
    const answers = await Promise.all(this.candidates(publisher, options.from).map(async node => await this.ask(node, id, publisher, pinned, options)))
    // a stable sort: of equal versions, the first node asked stays first
    const found = answers.flatMap(a => a.found ?? []).sort((a, b) => newestFirst(a.release, b.release))
    if (found.length === 0) {
      const asked = answers.flatMap(a => a.notes)
      const where = asked.length === 0 ? 'no node to ask: connect to one that has it, or name one with --from' : `asked ${asked.join('; ')}`
      throw new NotServedError(`no node serves ${id}${options.version != null ? ` ${options.version}` : ''} that this node can trust (${printable(where)}); nothing installed`)
    }
    const { release, hash, key } = found[0]
    return { release, hash, key, sources: found.filter(f => f.hash === hash).map(({ from, connection }) => ({ from, connection })) }
  }

  /** The newest (or `version`) release of `id` that checks out on `node`, of its few newest, and what failed on the way. */
  private async ask (node: string, id: string, publisher: string, pinned: () => Promise<PeerId | undefined>, options: PlanOptions): Promise<{ found?: Checked, notes: string[] }> {
    let connection: Connection
    let releases: Release[]
    try {
      connection = await this.connect(node, options.signal)
      releases = await listReleases(connection, id, options.signal)
    } catch (err) {
      return { notes: [`${node}: ${describeError(err)}`] }
    }
    const wanted = releases
      .filter(r => releaseId(r) === id && (options.version == null || r.version === options.version))
      .sort(newestFirst)
    if (wanted.length === 0) return { notes: [`${node}: ${options.version == null || !releases.some(r => releaseId(r) === id) ? 'does not have it' : `has no version ${options.version}`}`] }
    const notes: string[] = []
    // a forged newer record must not hide a good older one, nor a node's thousand forgeries cost a thousand checks
    for (const release of wanted.slice(0, CHECKED_PER_NODE)) {
      try {
        const key = fingerprint(await this.check(release, publisher, pinned))
        return { found: { release, hash: toString(release.blake3, 'base16'), key, from: node, connection }, notes }
      } catch (err) {
        notes.push(`${node}: ${describeError(err)}`)
      }
    }
    return { notes }
  }

  /** The signing key, once its signature holds and it is the key pinned to `publisher` (`pinned`, which may wait to learn it). */
  private async check (release: Release, publisher: string, pinnedKey: () => Promise<PeerId | undefined>): Promise<PeerId> {
    const signer = await verifyRelease(release).catch(err => { throw new InstallError(`its release is refused: ${describeError(err)}`) })
    const pinned = await pinnedKey()
    if (pinned == null) throw new InstallError(`this node does not know ${publisher}'s key, so cannot check who signed it`)
    if (pinned.toString() !== signer) throw new InstallError(`it is signed by ${signer}, not by ${publisher}'s key ${pinned.toString()}`)
    return pinned
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

  /** Where to look: `--from` alone; else the publisher, then the connected nodes, at most MAX_ASKED in all. */
  private candidates (publisher: string, from?: string): string[] {
    if (from != null) return [from]
    const { node, names } = this.parts
    const connected = node.getPeers().map(p => names.nameOrId(p.toString()))
    return [...new Set([publisher, ...connected])].filter(n => n !== names.name).slice(0, MAX_ASKED)
  }

  private async connect (node: string, signal?: AbortSignal): Promise<Connection> {
    const peer = this.parts.node.getPeers().find(p => p.toString() === node)
    if (peer != null) return await this.parts.node.dial(peer, { signal })
    return await this.parts.names.connect(node, { signal })
  }
}

/** `photos:pub.dev 0.1.0 from pub.dev, b.dev: 5.0 KiB, blake3 6f4fc1f4e9098a63…, signed by pub.dev's key SHA256:…` */
function describePlanned (p: Planned): string {
  return `${releaseId(p.release)} ${p.release.version} from ${p.sources.map(s => s.from).join(', ')}: ${formatBytes(p.release.size)}, blake3 ${p.hash.slice(0, 16)}…, signed by ${p.release.publisher}'s key ${p.key}`
}

/** `fetched photos:pub.dev 0.1.0 from b.dev; before it, pub.dev: …`, when a node before the one that delivered did not. */
function fellBack (p: Planned, fetched: Fetched): string | undefined {
  if (fetched.failed.length === 0) return undefined
  return `fetched ${releaseId(p.release)} ${p.release.version} from ${fetched.from}; before it, ${printable(fetched.failed.join('; '))}`
}

function holds (release: Release): string {
  return release.capabilities.length > 0 ? release.capabilities.join(', ') : 'nothing beyond its own drive'
}

/** `install NAME:PUBLISHER [--from NODE] [--version V] [--yes]`, at the prompt and through `hwd install`. */
export function installCommand (installer: Installer): Command {
  return {
    name: 'install',
    args: 'NAME:PUBLISHER [--from NODE] [--version V] [--yes]',
    summary: 'fetch a package and what it depends on from the network, check who signed it, and load it',
    minArgs: 1,
    async run (args, out, signal) {
      const { values, positionals } = parseArgs({
        args,
        options: { from: { type: 'string' }, version: { type: 'string' }, hash: { type: 'string', multiple: true }, yes: { type: 'boolean', default: false } },
        allowPositionals: true
      })
      if (positionals.length !== 1 || !PACKAGE_ID.test(positionals[0])) throw new UsageError('usage: install NAME:PUBLISHER [--from NODE] [--version V] [--yes]')
      const id = positionals[0]
      const installed = installer.present(id)
      if (installed != null) throw new InstallError(`${id} ${installed} is installed already${values.version != null && values.version !== installed ? `; uninstall it first to install ${values.version}` : ''}`)
      const plan = await installer.plan(id, { from: values.from, version: values.version, hashes: values.hash, signal })
      for (const p of plan) {
        out.line(describePlanned(p))
        out.line(`  asks for: ${holds(p.release)}`)
        if (p.release.dependencies.length > 0) out.line(`  depends on: ${p.release.dependencies.join(', ')}`)
      }
      const top = plan[plan.length - 1]
      if (!values.yes) {
        // --from again, when given: the confirmed run looks for the same hashes, and the node named may be past those asked otherwise
        const argv = ['install', id, ...(values.from != null ? ['--from', values.from] : []), '--version', top.release.version, ...plan.flatMap(p => ['--hash', p.hash]), '--yes']
        const question = `install ${plan.length > 1 ? `these ${plan.length} packages` : 'it'}, granting what it asks for?`
        if (out.ask != null) out.ask(question, argv)
        else out.line(`not installed yet; to install, type: ${argv.join(' ')}`)
        return
      }
      await installer.install(plan, (p, scripts, fetched) => {
        const note = fellBack(p, fetched)
        if (note != null) out.line(note)
        out.line(`installed ${releaseId(p.release)}${scripts.length > 0 ? `: ${scripts.join(', ')}` : ''}`)
      }, signal)
    }
  }
}

/** `uninstall NAME:PUBLISHER`. */
export function uninstallCommand (installer: Installer): Command {
  return {
    name: 'uninstall',
    args: 'NAME:PUBLISHER',
    summary: 'stop an installed package and remove it; its drive and state stay',
    minArgs: 1,
    maxArgs: 1,
    async run ([id], out) {
      const version = await installer.uninstall(id)
      out.line(`uninstalled ${id} ${version}; its drive and state stay in the home`)
    }
  }
}
