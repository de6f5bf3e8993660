/**
 * The daemon's side of one sandboxed package: its process, the checks on every call it makes,
 * and the watch that stops it when it crashes, hangs or grows past its memory. A package that
 * fails is stopped and told in one line; the daemon and the other packages run on.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { readFile, realpath } from 'node:fs/promises'
import type { Socket } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { logger } from '@libp2p/logger'
import { printable } from '../../errors.ts'
import type { CommandOutput, PackageContext, Progress } from '../package-api.ts'
import { FILE_TRANSFER, type FileTransferApi } from '../../packages/file-transfer/api.ts'
import type { Learned, NameService } from '../../protocol/names/index.ts'
import type { HwdLibp2p } from '../node.ts'
import { serveFileTransfer } from './bridge.ts'
import type { Capability } from './capabilities.ts'
import { AccessError, Channel } from './channel.ts'
import type { StartInit } from './child.ts'
import { serveNet } from './net.ts'
import { HeldStreams } from './streams.ts'
import {
  CHILD_LIMITS, MAX_HEAP_MIB, MAX_LINE_CHARS, MAX_RSS_MIB, PING_TIMEOUT_MS, START_TIMEOUT_MS, STOP_TIMEOUT_MS, WATCH_MS
} from './limits.ts'

const CHILD_MAIN = fileURLToPath(new URL('./child.js', import.meta.url))
/** hwd's own folder: the code a package's process runs (dist/, package.json) */
const HWD_ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/**
 * The libraries it loads: hwd's own node_modules, and the one its dependencies sit in when npm
 * installed them beside hwd rather than inside it.
 */
function libraryFolders (): string[] {
  const lib = fileURLToPath(import.meta.resolve('@libp2p/utils'))
  return [`${HWD_ROOT}node_modules/*`, `${lib.slice(0, lib.lastIndexOf('/node_modules/'))}/node_modules/*`]
}
const PERMISSION_FLAG = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission'

const execFileAsync = promisify(execFile)

/** A package's process gets no environment but the daemon's DEBUG; without PATH, commands are looked for in /usr/bin and /bin. */
function childEnv (): NodeJS.ProcessEnv {
  return { DEBUG: process.env.DEBUG ?? '' }
}

/**
 * What a package's process is started through so that the kernel kills it when the daemon's
 * process ends, however it ends: util-linux's `setpriv --pdeathsig KILL`, which sets the
 * parent-death signal and execs node in the same process. A daemon killed outright (`kill -9`)
 * stops nothing itself; a package that yields then sees its channel close and exits, but one
 * stuck in a loop that never yields would run on, orphaned, at a full core. Where setpriv is
 * missing or lacks --pdeathsig (not Linux, util-linux before 2.33) the process starts directly.
 * Found out once, without blocking the node's event loop.
 */
let deathSignalPrefix: Promise<string[]> | undefined
async function parentDeathPrefix (): Promise<string[]> {
  deathSignalPrefix ??= (async () => {
    const prefix = ['setpriv', '--pdeathsig', 'KILL', '--']
    if (process.platform !== 'linux') return []
    const works = await execFileAsync(prefix[0], [...prefix.slice(1), process.execPath, '--version'], { env: childEnv() }).then(() => true, () => false)
    return works ? prefix : []
  })()
  return await deathSignalPrefix
}

export interface SandboxParts {
  node: HwdLibp2p
  names: NameService
  /** `<home>/vfs` */
  vfs: string
  print(text: string): void
}

export type SandboxState = 'starting' | 'running' | 'failed' | 'stopped'

export class SandboxedPackage {
  state: SandboxState = 'starting'
  reason?: string
  private readonly log
  private readonly protocols = new Set<string>()
  private stderrTail = ''
  private watch?: NodeJS.Timeout
  private readonly exited: Promise<void>

  private constructor (
    readonly ctx: PackageContext,
    readonly capabilities: Capability[],
    private readonly parts: SandboxParts,
    private readonly child: ChildProcess,
    private readonly channel: Channel,
    private readonly streams: HeldStreams
  ) {
    this.log = logger(`hwd:sandbox:${ctx.id}`)
    // on 'close', not 'exit': its stderr may still hold the last words (a heap out of memory) at
    // 'exit', and a script cut off by the death waits for `exited` to tell why
    child.once('close', (code, signal) => { this.fail(this.exitReason(code, signal)) })
    // a process that never started emits 'error' and may never emit 'close'
    this.exited = new Promise(resolve => { child.once('close', () => { resolve() }); child.once('error', () => { if (child.pid == null) resolve() }) })
    // a process that could not start, or a signal that could not be sent
    child.on('error', err => { this.fail(`its process: ${err.message}`) })
    channel.whenClosed(err => { if (err.name === 'ChannelError' && this.child.exitCode == null) this.fail(`its channel: ${err.message}`) })
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      this.stderrTail = (this.stderrTail + text).slice(-4096)
      this.log('stderr: %s', text)
    })
    child.stdout?.setEncoding('utf8').on('data', (text: string) => { this.log('stdout: %s', text) })
  }

  get pid (): number | undefined { return this.child.pid }

  /**
   * Start the package in `dir` in a process of its own, granted `capabilities` and the APIs
   * in `ctx.deps`; `ctx` is the package's context as the daemon acts on its behalf.
   */
  static async start (dir: string, ctx: PackageContext, capabilities: Capability[], parts: SandboxParts): Promise<{ sandbox: SandboxedPackage, scripts: string[], api: boolean }> {
    const reads = await withRealPaths([`${dir}/*`, `${HWD_ROOT}dist/*`, ...libraryFolders(), `${HWD_ROOT}package.json`])
    const own = [`${parts.vfs}/${ctx.id}/*`, `${ctx.stateDir}/*`]
    const [command, ...prefix] = [...await parentDeathPrefix(), process.execPath]
    const child = spawn(command, [
      ...prefix,
      PERMISSION_FLAG,
      ...(process.allowedNodeEnvironmentFlags.has('--disable-warning') ? ['--disable-warning=ExperimentalWarning'] : []),
      `--max-old-space-size=${MAX_HEAP_MIB}`,
      ...[...reads, ...own].map(p => `--allow-fs-read=${p}`),
      ...own.map(p => `--allow-fs-write=${p}`),
      CHILD_MAIN
    ], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'], env: childEnv(), cwd: dir, detached: true })
    const channel = new Channel(child.stdio[3] as Socket, CHILD_LIMITS)
    const sandbox = new SandboxedPackage(ctx, capabilities, parts, child, channel, new HeldStreams(channel))
    sandbox.answer()
    const timer = setTimeout(() => { sandbox.fail(`did not start within ${START_TIMEOUT_MS / 1000} s`) }, START_TIMEOUT_MS)
    try {
      const init: StartInit = {
        id: ctx.id,
        dir,
        metadata: ctx.metadata,
        vfs: parts.vfs,
        stateDir: ctx.stateDir,
        our: { name: ctx.our.name, peerId: ctx.our.peerId.toString() },
        capabilities,
        deps: Object.fromEntries(Object.entries(ctx.deps).map(([id, api]) => [id, api instanceof SandboxedPackage ? 'sandbox' : id === FILE_TRANSFER && api != null ? 'file-transfer' : 'none'])),
        names: capabilities.includes('net') ? parts.names.names() : []
      }
      const started = await channel.request<{ scripts: string[], api: boolean }>('start', init)
      sandbox.state = 'running'
      sandbox.watchSoon()
      return { sandbox, ...started }
    } catch (err) {
      const reason = sandbox.reason
      await sandbox.stop()
      throw reason != null ? new AccessError(reason) : err
    } finally {
      clearTimeout(timer)
    }
  }

  /** Run one of its scripts; its output comes back through `out`, escaped. */
  async runScript (name: string, args: string[], out: CommandOutput, signal: AbortSignal): Promise<void> {
    if (this.state !== 'running') throw new AccessError(`package ${this.ctx.id} is not running (${this.reason ?? this.state})`)
    try {
      await this.channel.request('script', { name, args }, {
        signal,
        onNotice: ({ line, progress }) => {
          if (typeof line === 'string') out.line(printable(line.slice(0, MAX_LINE_CHARS)))
          else if (isProgress(progress)) out.progress({ ...progress, id: printable(progress.id.slice(0, 64)), label: printable(progress.label.slice(0, 256)) })
        }
      })
    } catch (err: any) {
      // a process that died closes its channel a moment before its exit tells why
      if (err?.name === 'ChannelClosedError') await Promise.race([this.exited, sleep(STOP_TIMEOUT_MS)])
      if ((this.state as SandboxState) === 'failed') throw new AccessError(`package ${this.ctx.id} failed: ${this.reason ?? ''}`)
      throw err
    }
  }

  /** A dependent's call into this package's API, `caller` as the daemon knows it. */
  async call (caller: string, fn: unknown, args: unknown, ctxAt: unknown): Promise<unknown> {
    if (this.state !== 'running') throw new AccessError(`package ${this.ctx.id} is not running`)
    if (typeof fn !== 'string' || !Array.isArray(args) || !Array.isArray(ctxAt) || !ctxAt.every(i => Number.isInteger(i) && i >= 0 && i < args.length)) throw new AccessError('a malformed call')
    return await this.channel.request('api.call', { caller, fn, args, ctxAt })
  }

  async stop (): Promise<void> {
    if (this.state === 'starting' || this.state === 'running') {
      this.state = 'stopped'
      await Promise.race([this.channel.request('stop').catch(() => {}), sleep(STOP_TIMEOUT_MS)])
    }
    this.end()
    if (this.child.exitCode == null && this.child.signalCode == null) {
      this.child.kill('SIGTERM')
      const killed = setTimeout(() => { this.child.kill('SIGKILL') }, STOP_TIMEOUT_MS)
      await this.exited
      clearTimeout(killed)
    }
  }

  /** Stop it for `reason`, told once; calls in flight fail with it. */
  private fail (reason: string): void {
    if (this.state === 'failed' || this.state === 'stopped') return
    // one that fails while starting is refused, in the refusal's one line
    if (this.state === 'running') this.parts.print(`package ${this.ctx.id} failed: ${reason}; it is stopped, the rest runs on`)
    this.state = 'failed'
    this.reason = reason
    this.end()
    this.child.kill('SIGKILL')
  }

  private end (): void {
    clearTimeout(this.watch)
    this.parts.names.removeEventListener('learned', this.onLearned)
    for (const p of this.protocols) void this.parts.node.unhandle(p).catch(() => {})
    this.protocols.clear()
    this.streams.closeAll()
    this.channel.close()
  }

  /** The next check WATCH_MS after this one ends: a ping may take longer than WATCH_MS, and checks never overlap. */
  private watchSoon (): void {
    this.watch = setTimeout(() => {
      void this.check().finally(() => { if (this.state === 'running') this.watchSoon() })
    }, WATCH_MS).unref()
  }

  /** Every few seconds: it answers, and its memory is within the limit. */
  private async check (): Promise<void> {
    const rss = await residentMiB(this.child.pid)
    if (rss != null && rss > MAX_RSS_MIB) {
      this.fail(`used ${rss} MiB of memory, over its limit of ${MAX_RSS_MIB} MiB`)
      return
    }
    const answered = await Promise.race([this.channel.request('ping').then(() => true, () => true), sleep(PING_TIMEOUT_MS).then(() => false)])
    if (!answered && this.state === 'running') this.fail(`stopped answering for ${PING_TIMEOUT_MS / 1000} s (a loop that never yields?)`)
  }

  private exitReason (code: number | null, signal: NodeJS.Signals | null): string {
    if (/heap out of memory|Reached heap limit/.test(this.stderrTail)) return `ran out of memory (its heap is limited to ${MAX_HEAP_MIB} MiB)`
    const lines = this.stderrTail.split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('at ') && !/^Node\.js v/.test(l))
    const said = lines.find(l => /^[A-Za-z]*(Error|Exception)\b/.test(l)) ?? lines.at(-1)
    const how = signal != null ? `was killed by ${signal}` : `exited with code ${code ?? '?'}`
    return `${how}${said != null ? `: ${printable(said.slice(0, MAX_LINE_CHARS))}` : ''}`
  }

  /** a name learned: the child merges it into what it knows, so only the new one travels */
  private readonly onLearned = (evt: Event): void => {
    const { name, peerId } = (evt as CustomEvent<Learned>).detail
    this.channel.notify('names', [{ name, peerId: peerId.toString() }])
  }

  private granted (cap: Capability): void {
    if (!this.capabilities.includes(cap)) throw new AccessError(`${this.ctx.id} was not granted ${cap}`)
  }

  /** The calls a package makes, each checked against its grant. */
  private answer (): void {
    const { channel, ctx, parts } = this
    const id = ctx.id
    channel.on('print', ({ text }) => {
      if (!this.capabilities.includes('terminal') || typeof text !== 'string') return
      parts.print(`${id}: ${printable(text.slice(0, MAX_LINE_CHARS))}`)
    })
    // what the package tells open web pages: data the page shows only as text, in frames the channel caps
    channel.on('publish', ({ topic, detail }) => {
      if (typeof topic === 'string') ctx.publish(topic.slice(0, 64), detail)
    })
    if (this.capabilities.includes('net')) parts.names.addEventListener('learned', this.onLearned)
    serveNet(channel, ctx, {
      node: parts.node,
      names: parts.names,
      streams: this.streams,
      protocols: this.protocols,
      granted: () => { this.granted('net') },
      running: () => this.state === 'running'
    })
    channel.handle('dep.call', async ({ dep, fn, args, ctxAt }) => {
      const target = ctx.metadata.dependencies.includes(dep) ? ctx.deps[dep] : undefined
      if (!(target instanceof SandboxedPackage)) throw new AccessError(`${id} does not depend on ${String(dep).slice(0, 64)}, or its API is not callable from a sandbox`)
      return await target.call(id, fn, args, ctxAt)
    })
    const files = ctx.deps[FILE_TRANSFER] as FileTransferApi | undefined
    if (files != null) serveFileTransfer(channel, ctx, files)
  }
}

function isProgress (p: any): p is Progress {
  return typeof p === 'object' && p != null && typeof p.id === 'string' && typeof p.label === 'string' &&
    typeof p.done === 'number' && (p.total === undefined || typeof p.total === 'number')
}

/** Paths as given and as they resolve: the permission model checks the resolved one. */
async function withRealPaths (paths: string[]): Promise<string[]> {
  const all = new Set(paths)
  for (const p of paths) {
    const base = p.endsWith('/*') ? p.slice(0, -2) : p
    const real = await realpath(base).catch(() => base)
    all.add(p.endsWith('/*') ? `${real}/*` : real)
  }
  return [...all]
}

/** A process's resident memory from /proc (Linux); elsewhere nothing, and only its heap is capped. */
async function residentMiB (pid: number | undefined): Promise<number | undefined> {
  if (pid == null) return undefined
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]
    return kb != null ? Math.round(Number(kb) / 1024) : undefined
  } catch {
    return undefined
  }
}

async function sleep (ms: number): Promise<void> {
  await delay(ms, undefined, { ref: false })
}
