import { setMaxListeners } from 'node:events'
import { readdir, readFile, mkdir } from 'node:fs/promises'
import { isAbsolute, join, relative, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { logger } from '@libp2p/logger'
import { describeError, HwdError, quoted } from '../errors.ts'
import type { NameService } from '../protocol/names/index.ts'
import type { HomePaths } from '../storage/home.ts'
import { Drive } from '../storage/vfs.ts'
import type { Access } from './access.ts'
import type { Commands } from './commands.ts'
import type { HwdLibp2p } from './node.ts'
import { relayOf } from './addresses.ts'
import type { PackageContext, PackageEntry, PackageMetadata, PackageRuntime, ScriptMetadata } from './package-api.ts'
import { CAPABILITIES, describeGrant, isCapability, type Capability } from './sandbox/capabilities.ts'
import { SandboxedPackage } from './sandbox/host.ts'
import type { TransferTable } from './transfers.ts'
import { PACKAGE_NAME, PUBLISHER_NAME } from '../protocol/packages/release.ts'

/** The packages every node runs, shipped beside the daemon and loaded like any other. */
export const BUILTIN_PACKAGES = ['file-transfer', 'chat-with-file-transfer']
  .map(name => fileURLToPath(new URL(`../packages/${name}`, import.meta.url)))

export class PackageError extends HwdError {
  static name = 'PackageError'
  name = 'PackageError'
}

interface FoundPackage {
  id: string
  dir: string
  metadata: PackageMetadata
}

export interface LoadedPackage extends FoundPackage {
  runtime: PackageRuntime
  drive: Drive
  /** the process a package that is not built in runs in */
  sandbox?: SandboxedPackage
}

export interface PackageHostParts {
  node: HwdLibp2p
  names: NameService
  paths: HomePaths
  transfers: TransferTable
  commands: Commands
  print(text: string): void
  access: Access
  /** where a package that is not built in came from: a folder, or an installed release and its hash */
  origin(pkg: LoadedPackage): string
  publish(pkg: string, topic: string, detail: unknown): void
  /** a package was loaded or unloaded, at start or later (`install`, `uninstall`, a dependency fetched) */
  changed(): void
}

/**
 * Finds, orders and starts packages. A package that cannot load (bad metadata, a missing or
 * refused dependency, a cycle, a duplicate, an entry that throws) is refused with a one-line
 * reason naming it; the others load regardless.
 */
export class PackageHost {
  private readonly loaded: LoadedPackage[] = []
  private readonly refused: string[] = []
  private readonly controller = new AbortController()
  /** packages held back by a dependency no folder here provides, until it is fetched */
  private waiting: FoundPackage[] = []
  /** gets a dependency from the network and loads it (daemon/install.ts); none: a missing dependency is refused at once */
  private fetcher?: (id: string, signal: AbortSignal) => Promise<void>
  /** `fetchMissing` at work, for `stop` to wait for: nothing may start once the rest has stopped */
  private fetching?: Promise<void>

  constructor (private readonly parts: PackageHostParts) {
    // every running transfer listens on it: dozens of listeners are expected, not a leak
    setMaxListeners(Infinity, this.controller.signal)
    parts.commands.register({
      name: 'packages',
      args: '',
      summary: 'each package: what it holds, and whether it runs',
      minArgs: 0,
      maxArgs: 0,
      run: async (_args, out) => { for (const line of this.describe()) out.line(line) }
    })
  }

  /** `hwd packages`: one line a package, refusals last. */
  describe (): string[] {
    const lines = this.loaded.map(p => {
      const head = `${p.id} ${p.metadata.version}`
      if (p.sandbox == null) return `${head}: built in, running in the daemon`
      const state = p.sandbox.state === 'failed' ? `failed: ${p.sandbox.reason ?? ''}` : `${p.sandbox.state} (pid ${p.sandbox.pid ?? '?'})`
      return `${head}: sandboxed, holds ${describeGrant(p.sandbox.capabilities, p.metadata.dependencies)}; ${state}; ${this.parts.origin(p)}`
    })
    return [...lines, ...this.refused.map(r => `refused ${r}`)]
  }

  list (): LoadedPackage[] {
    return [...this.loaded]
  }

  /**
   * Fetch dependencies from the network from now on: a package whose dependency no folder
   * provides waits for `fetchMissing`, rather than being refused at once.
   */
  fetchWith (fetcher: (id: string, signal: AbortSignal) => Promise<void>): void {
    this.fetcher = fetcher
  }

  /**
   * Get each dependency that held a package back (`fetchWith`), as `kit build` does, then load
   * the packages that now have all theirs; those whose dependency no node had are refused,
   * saying where it was looked for.
   */
  async fetchMissing (): Promise<void> {
    this.fetching = this.fetchWaiting()
    await this.fetching
  }

  private async fetchWaiting (): Promise<void> {
    const waiting = this.waiting
    this.waiting = []
    const have = (id: string): boolean => this.loaded.some(l => l.id === id) || waiting.some(w => w.id === id)
    const failed = new Map<string, string>()
    for (const dep of new Set(waiting.flatMap(w => w.metadata.dependencies).filter(d => !have(d)))) {
      this.parts.print(`fetching ${dep}, which ${waiting.filter(w => w.metadata.dependencies.includes(dep)).map(w => w.id).join(', ')} depends on`)
      await this.fetcher?.(dep, this.controller.signal).catch(err => { failed.set(dep, describeError(err)) })
    }
    const ready: string[] = []
    for (const pkg of waiting) {
      const dep = pkg.metadata.dependencies.find(d => !have(d))
      if (dep != null) this.refuse(new PackageError(`package ${pkg.id}: missing dependency ${dep}: ${failed.get(dep) ?? 'it did not load'}`))
      else ready.push(pkg.dir)
    }
    const before = this.loaded.length
    await this.load(ready, false)
    for (const pkg of this.loaded.slice(before)) this.parts.print(`loaded ${pkg.id} ${pkg.metadata.version}`)
  }

  /**
   * Load the packages in `dirs`, each folder holding a `metadata.json`; one whose dependency
   * no folder provides waits for `fetchMissing` if `mayWait` and a fetcher is set.
   */
  async load (dirs: string[], mayWait = true): Promise<void> {
    const found: FoundPackage[] = []
    for (const dir of dirs) {
      try {
        const pkg = await readPackage(dir)
        const twin = found.find(f => f.id === pkg.id)
        if (twin != null) throw new PackageError(`package ${pkg.id} at ${dir}: duplicate of the one at ${twin.dir}`)
        found.push(pkg)
      } catch (err) {
        this.refuse(err)
      }
    }
    for (const pkg of this.order(found, mayWait && this.fetcher != null)) {
      const refusedDep = pkg.metadata.dependencies.find(d => !this.loaded.some(l => l.id === d))
      if (refusedDep != null) {
        this.refuse(new PackageError(`package ${pkg.id}: its dependency ${refusedDep} did not load`))
        continue
      }
      try {
        await this.start(pkg)
      } catch (err: any) {
        this.refuse(err?.name === 'PackageError' ? err : new PackageError(`package ${pkg.id}: failed to start: ${describeError(err)}`))
      }
    }
  }

  /**
   * Load one installed package folder into the running node with the capabilities its
   * metadata asks for: the installer checked that they are what its signed release says and
   * what the user agreed to. Its commands, or why it was refused.
   */
  async loadInstalled (dir: string): Promise<string[]> {
    const pkg = await readPackage(dir)
    if (this.loaded.some(l => l.id === pkg.id)) throw new PackageError(`package ${pkg.id} is loaded already`)
    const missing = pkg.metadata.dependencies.find(d => !this.loaded.some(l => l.id === d))
    if (missing != null) throw new PackageError(`package ${pkg.id}: its dependency ${missing} is not loaded`)
    await this.start(pkg)
    return Object.keys(pkg.metadata.scripts).map(s => `${s}:${pkg.id}`)
  }

  /** Stop and forget a package that is not built in; refused while a loaded package depends on it. */
  async unload (id: string): Promise<LoadedPackage> {
    const pkg = this.loaded.find(l => l.id === id)
    if (pkg == null) throw new PackageError(`${id} is not loaded`)
    if (pkg.sandbox == null) throw new PackageError(`${id} is built in: every node runs it`)
    const dependent = this.loaded.find(l => l.metadata.dependencies.includes(id))
    if (dependent != null) throw new PackageError(`${dependent.id} depends on ${id}; uninstall it first`)
    await pkg.runtime.stop?.()
    for (const script of Object.keys(pkg.metadata.scripts)) this.parts.commands.unregister(`${script}:${id}`)
    this.loaded.splice(this.loaded.indexOf(pkg), 1)
    this.parts.changed()
    return pkg
  }

  async stop (): Promise<void> {
    this.controller.abort()
    await this.fetching?.catch(() => {})
    // no built-in package depends on a sandboxed one: those stop first, all at once, each in its own time
    await Promise.all(this.loaded.filter(p => p.sandbox != null).map(async p => { await p.sandbox?.stop() }))
    for (const pkg of this.loaded.reverse()) {
      if (pkg.sandbox != null) continue
      await pkg.runtime.stop?.().catch(err => { this.parts.print(`package ${pkg.id}: error while stopping: ${describeError(err)}`) })
    }
  }

  /** Dependencies first; packages with a missing dependency or in a cycle are refused here. */
  private order (found: FoundPackage[], mayWait: boolean): FoundPackage[] {
    const byId = new Map(found.map(f => [f.id, f]))
    const state = new Map<string, 'visiting' | 'done' | 'refused'>()
    const ordered: FoundPackage[] = []
    const visit = (pkg: FoundPackage, path: string[]): boolean => {
      const s = state.get(pkg.id)
      if (s === 'done') return true
      if (s === 'refused') return false
      if (s === 'visiting') {
        this.refuse(new PackageError(`package ${pkg.id}: dependency cycle ${[...path.slice(path.indexOf(pkg.id)), pkg.id].join(' → ')}`))
        state.set(pkg.id, 'refused')
        return false
      }
      state.set(pkg.id, 'visiting')
      for (const dep of pkg.metadata.dependencies) {
        const target = byId.get(dep)
        if (target == null && this.loaded.some(l => l.id === dep)) continue
        if (target == null) {
          if (mayWait) this.waiting.push(pkg)
          else this.refuse(new PackageError(`package ${pkg.id}: missing dependency ${dep}`))
          state.set(pkg.id, 'refused')
          return false
        }
        if (!visit(target, [...path, pkg.id])) {
          if (this.waiting.includes(target)) this.waiting.push(pkg)
          else if (state.get(pkg.id) !== 'refused') this.refuse(new PackageError(`package ${pkg.id}: its dependency ${dep} did not load`))
          state.set(pkg.id, 'refused')
          return false
        }
      }
      state.set(pkg.id, 'done')
      ordered.push(pkg)
      return true
    }
    for (const pkg of found) visit(pkg, [])
    return ordered
  }

  /**
   * Start one package with the capabilities `granted` to it: a built-in one in the daemon, any
   * other in a sandboxed process of its own (`sandbox/host.ts`).
   */
  private async start (pkg: FoundPackage): Promise<void> {
    const granted = pkg.metadata.capabilities
    if (this.controller.signal.aborted) throw new PackageError(`package ${pkg.id}: the node is stopping`)
    const { node, names, paths, transfers, commands, print, access, publish } = this.parts
    const stateDir = join(paths.state, pkg.id)
    await mkdir(stateDir, { recursive: true })
    const deps: Record<string, unknown> = {}
    for (const dep of pkg.metadata.dependencies) deps[dep] = this.loaded.find(l => l.id === dep)?.runtime.api
    const ctx: PackageContext = {
      id: pkg.id,
      metadata: pkg.metadata,
      our: { name: names.name, peerId: node.peerId },
      node,
      drive: await Drive.open(paths.vfs, pkg.id),
      stateDir,
      deps: Object.freeze(deps),
      transfers,
      log: logger(`hwd:pkg:${pkg.id}`),
      signal: this.controller.signal,
      print,
      publish: (topic, detail) => { publish(pkg.id, topic, detail) },
      connect: async (name, options) => await names.connect(name, options),
      resolve: name => names.resolve(name),
      nameOf: peer => names.nameOf(peer),
      refusal: (peer, what) => access.refusal(peer, what),
      relayOf: connection => {
        const relay = relayOf(connection.remoteAddr)
        return relay == null ? undefined : names.nameOrId(relay)
      }
    }
    const sandboxed = !BUILTIN_PACKAGES.includes(pkg.dir)
    let sandbox: SandboxedPackage | undefined
    let runtime: PackageRuntime
    if (sandboxed) {
      const started = await SandboxedPackage.start(pkg.dir, ctx, granted, { node, names, vfs: paths.vfs, print })
      sandbox = started.sandbox
      runtime = {
        scripts: Object.fromEntries(started.scripts.map(s => [s, async (args: string[], io) => { await started.sandbox.runScript(s, args, io.out, io.signal) }])),
        api: started.api ? started.sandbox : undefined,
        stop: async () => { await started.sandbox.stop() }
      }
    } else {
      const entry = await import(pathToFileURL(join(pkg.dir, pkg.metadata.entry)).href) as Partial<PackageEntry>
      if (typeof entry.start !== 'function') throw new PackageError(`package ${pkg.id}: its entry ${pkg.metadata.entry} exports no start function`)
      runtime = await entry.start(ctx)
    }
    const scripts = runtime?.scripts ?? {}
    const declared = Object.keys(pkg.metadata.scripts)
    const mismatch = [...declared.filter(s => typeof scripts[s] !== 'function'), ...Object.keys(scripts).filter(s => !declared.includes(s))]
    if (mismatch.length > 0) {
      await runtime?.stop?.()
      throw new PackageError(`package ${pkg.id}: scripts in metadata.json and in the entry differ (${mismatch.join(', ')})`)
    }
    for (const [script, meta] of Object.entries(pkg.metadata.scripts)) {
      const run = scripts[script]
      const complete = run.complete
      commands.register({
        name: `${script}:${pkg.id}`,
        ...meta,
        run: async (args, out, signal) => { await run(args, { out, signal }) },
        ...(complete != null ? { complete: (args: string[]) => complete(args) } : {})
      })
    }
    this.loaded.push({ ...pkg, runtime, drive: ctx.drive, sandbox })
    this.parts.changed()
  }

  private refuse (err: unknown): void {
    this.refused.push(describeError(err))
    this.parts.print(`refused ${describeError(err)}`)
  }
}

/** Every package folder under `dir`, for `<home>/packages/`. */
export async function packageDirsIn (dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true })
    // a folder whose name starts with a dot is not a package: an install being unpacked, say
    return entries.filter(e => e.isDirectory() && !e.name.startsWith('.')).map(e => join(dir, e.name)).sort()
  } catch (err: any) {
    if (err.code === 'ENOENT') return []
    throw err
  }
}

/**
 * A package folder's metadata.json, checked field by field; a PackageError names the first field
 * at fault, after `at` (by default the folder; '' where the folder means nothing to the user).
 */
export async function readPackage (dirArg: string, at?: string): Promise<FoundPackage> {
  const dir = resolve(dirArg)
  const where = at ?? `package at ${dir}: `
  let raw: unknown
  try {
    raw = JSON.parse(await readFile(join(dir, 'metadata.json'), 'utf8'))
  } catch (err: any) {
    throw new PackageError(`${where}cannot read metadata.json (${err.code === 'ENOENT' ? 'no such file' : err.message})`)
  }
  const problem = (why: string): PackageError => new PackageError(`${where}metadata.json ${why}`)
  if (typeof raw !== 'object' || raw == null) throw problem('is not a JSON object')
  const m = raw as Record<string, unknown>
  if (typeof m.package_name !== 'string' || !PACKAGE_NAME.test(m.package_name)) throw problem('needs package_name: lower-case letters, digits and hyphens')
  if (typeof m.publisher !== 'string' || !PUBLISHER_NAME.test(m.publisher)) throw problem('needs publisher: a lower-case DNS-like name such as template.os')
  if (typeof m.version !== 'string' || m.version === '') throw problem('needs a version')
  if (typeof m.entry !== 'string' || isAbsolute(m.entry) || relative(dir, resolve(dir, m.entry)).startsWith('..')) throw problem('needs entry: a module path inside the package folder')
  const dependencies = m.dependencies ?? []
  if (!Array.isArray(dependencies) || !dependencies.every(d => typeof d === 'string' && /^[^:\s]+:[^:\s]+$/.test(d))) throw problem('dependencies must be a list of package:publisher')
  const capabilities = m.capabilities ?? []
  if (!Array.isArray(capabilities)) throw problem(`capabilities must be a list (known: ${Object.keys(CAPABILITIES).join(', ')})`)
  const unknown = capabilities.find(c => !isCapability(c))
  if (unknown !== undefined) throw problem(`asks for an unknown capability ${quoted(String(unknown).slice(0, 64))} (known: ${Object.keys(CAPABILITIES).join(', ')})`)
  const scripts = m.scripts ?? {}
  if (typeof scripts !== 'object' || scripts == null || Array.isArray(scripts)) throw problem('scripts must be an object')
  for (const [name, s] of Object.entries(scripts)) {
    if (!PACKAGE_NAME.test(name) || !isScriptMetadata(s)) throw problem(`script ${JSON.stringify(name)} needs args, summary and minArgs`)
  }
  const metadata: PackageMetadata = {
    package_name: m.package_name,
    publisher: m.publisher,
    version: m.version,
    description: typeof m.description === 'string' ? m.description : undefined,
    entry: m.entry,
    dependencies,
    capabilities: [...new Set(capabilities as Capability[])],
    scripts: scripts as Record<string, ScriptMetadata>
  }
  return { id: `${metadata.package_name}:${metadata.publisher}`, dir, metadata }
}

function isScriptMetadata (s: unknown): s is ScriptMetadata {
  if (typeof s !== 'object' || s == null) return false
  const v = s as Record<string, unknown>
  return typeof v.args === 'string' && typeof v.summary === 'string' &&
    Number.isInteger(v.minArgs) && (v.maxArgs === undefined || Number.isInteger(v.maxArgs))
}
