import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Status } from '../daemon/daemon.ts'
import { homePaths } from '../storage/home.ts'
import { nodeFlagsOf } from './launcher.ts'

export const CLI = fileURLToPath(new URL('../daemon/cli.js', import.meta.url))

export interface CliResult { code: number | null, stdout: string, stderr: string, ms: number }

/** Run the real `hwd` command line to completion, with the node flags its first line gives it. */
export async function hwd (args: string[], options: { input?: string, timeoutMs?: number, env?: Record<string, string> } = {}): Promise<CliResult> {
  const started = Date.now()
  // no input: stdin is /dev/null, so a command that exits at once cannot meet a closed pipe (EPIPE)
  const child = spawn(process.execPath, [...nodeFlagsOf(CLI), CLI, ...args], { stdio: [options.input == null ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: { ...process.env, ...options.env } })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  if (options.input != null) {
    // a command may end without reading all it was given; what it did is in its output and code
    child.stdin!.on('error', () => {})
    child.stdin!.end(options.input)
  }
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000)
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  clearTimeout(timer)
  return { code, stdout, stderr, ms: Date.now() - started }
}

const homes = new Set<string>()

/** A fresh directory that `stopAll` removes. */
export async function tempHome (prefix = 'hwd-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  homes.add(dir)
  return dir
}

/** A hostile peer's reason for a refusal: a forged line, a terminal escape, and far too much. */
export const HOSTILE_REASON = 'no\nhwd: all is well\u001b[2J' + 'x'.repeat(5000)

/** A one-line error that quotes HOSTILE_REASON: still one line, escaped, and cut short. */
export function assertQuotedSafely (text: string): void {
  assert.equal(text.trimEnd().split('\n').length, 1, `one line: ${text.slice(0, 300)}`)
  assert.ok(!text.includes('\u001b'), 'no escape character reaches the terminal')
  assert.ok(text.includes('no\\u000ahwd: all is well\\u001b[2J'), text.slice(0, 300))
  assert.ok(text.length < 400 && text.includes('x…'), `cut short: ${text.length} characters`)
}

/** Why a test that needs a small disk of its own skips, or false where it can run. */
export const NO_SMALL_DISK = process.getuid?.() !== 0 && 'needs root to mount a small tmpfs'

/** Run `fn` with a tmpfs of `size` (`4m`) mounted, a disk that fills up, and a home made in it. */
export async function onSmallDisk (size: string, fn: (mount: string, home: string) => Promise<void>): Promise<void> {
  const mount = await tempHome('hwd-tmpfs-')
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mount])
  try {
    const home = join(mount, 'home')
    await mkdir(home)
    await fn(mount, home)
  } finally {
    execFileSync('umount', ['-l', mount])
    await rm(mount, { recursive: true, force: true })
  }
}

export interface StartOptions {
  name?: string
  home?: string
  port?: number
  peers?: string[]
  extra?: string[]
  /** keep stdin open so the test can type into the node's terminal */
  keepStdin?: boolean
  /** a command that runs the daemon, such as `ip netns exec NS` */
  prefix?: string[]
  /** the address to listen on */
  host?: string
  /** LAN discovery, which sends multicast on the machine's real interfaces unless in a namespace */
  mdns?: boolean
  /** how long start-up may take */
  startMs?: number
  /** added to the daemon's environment, such as DEBUG for its debug log (on stderr, in `errors`) */
  env?: Record<string, string>
  /** the CLI to run, if not this build's: another build's dist/daemon/cli.js, to compare with */
  cli?: string
  /** name the home in HWD_HOME rather than with --home */
  homeInEnv?: boolean
  /** run on a pseudo-terminal (util-linux `script`), as a person at a prompt does */
  tty?: boolean
}

/** `argv` run on a pseudo-terminal of its own: stdin, stdout and stderr are a TTY. */
export function onTty (argv: string[]): string[] {
  const quoted = argv.map(a => `'${a.replaceAll("'", "'\\''")}'`).join(' ')
  return ['script', '--quiet', '--flush', '--return', '--command', quoted, '/dev/null']
}

/** A real daemon, started through the CLI as `hwd` starts it, as a child process; on 127.0.0.1 with mDNS off unless told. */
export class TestNode {
  output = ''
  errors = ''
  private readonly exited: Promise<number | null>

  private constructor (readonly proc: ChildProcess, readonly name: string, readonly home: string) {
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => { this.output += d })
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => { this.errors += d })
    this.exited = new Promise(resolve => proc.on('exit', code => { resolve(code) }))
  }

  static async start (options: StartOptions = {}): Promise<TestNode> {
    const name = options.name ?? 'fake.dev'
    const home = options.home ?? await tempHome()
    const args = ['start', '--name', name, ...(options.homeInEnv === true ? [] : ['--home', home]), '--host', options.host ?? '127.0.0.1', '--port', String(options.port ?? 0),
      ...(options.mdns === true ? [] : ['--no-mdns']), ...(options.peers ?? []).flatMap(p => ['--peer', p]), ...(options.extra ?? [])]
    const cli = options.cli ?? CLI
    const daemon = [process.execPath, ...nodeFlagsOf(cli), cli, ...args]
    const [command, ...rest] = [...(options.prefix ?? []), ...(options.tty === true ? onTty(daemon) : daemon)]
    const env = { ...process.env, ...options.env, ...(options.homeInEnv === true ? { HWD_HOME: home } : {}) }
    const proc = spawn(command, rest, { stdio: ['pipe', 'pipe', 'pipe'], env })
    if (options.keepStdin !== true) proc.stdin!.end()
    const node = new TestNode(proc, name, home)
    nodes.add(node)
    await node.waitForOutput(/^home\s+/m, options.startMs ?? 15_000)
    return node
  }

  get peerId (): string {
    return /^peer id\s+(\S+)/m.exec(this.output)![1]
  }

  /** The dialable address, as `--peer` takes it. */
  get addr (): string {
    return /^listening\s+(\/ip4\/[\d.]+\/tcp\/\d+)/m.exec(this.output)![1]
  }

  get port (): number {
    return Number(this.addr.split('/').pop())
  }

  get pid (): number {
    return this.proc.pid!
  }

  /** The control socket, for requests without a `hwd run` child process. */
  get socket (): string {
    return homePaths(this.home).socket
  }

  get running (): boolean {
    return this.proc.exitCode == null && this.proc.signalCode == null
  }

  /**
   * Resolves when the node's own terminal output matches, with a match that ends past offset
   * `from` (a terminal writes what a key adds, so a match may begin in what came before), or
   * fails after the deadline.
   */
  async waitForOutput (pattern: RegExp, timeoutMs = 10_000, from = 0): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs
    const all = new RegExp(pattern.source, pattern.flags.replace('g', '') + 'g')
    return await new Promise((resolve, reject) => {
      const check = (): boolean => {
        const m = [...this.output.matchAll(all)].find(m => m.index + m[0].length > from)
        if (m != null) { cleanup(); resolve(m); return true }
        if (Date.now() > deadline) { cleanup(); reject(new Error(`${this.name}: no ${pattern} in output within ${timeoutMs} ms:\n${this.output}\n${this.errors}`)); return true }
        return false
      }
      const onData = (): void => { check() }
      const onExit = (code: number | null): void => { cleanup(); reject(new Error(`${this.name} exited (${code}) before ${pattern}:\n${this.output}\n${this.errors}`)) }
      const timer = setInterval(check, 100)
      const cleanup = (): void => { clearInterval(timer); this.proc.stdout!.off('data', onData); this.proc.off('exit', onExit) }
      this.proc.stdout!.on('data', onData)
      this.proc.on('exit', onExit)
      check()
    })
  }

  /** Type a line into the node's terminal. */
  type (line: string): void {
    this.proc.stdin!.write(line + '\n')
  }

  /**
   * Press keys at the node's prompt, as one write, and wait until its output, from here on,
   * matches `echo`. A tab must be pressed on its own: the terminal takes keys that arrive
   * together as a paste, and does not complete within one.
   */
  async press (keys: string, echo: RegExp, timeoutMs = 10_000): Promise<string> {
    const from = this.output.length
    this.proc.stdin!.write(keys)
    await this.waitForOutput(echo, timeoutMs, from)
    return this.output.slice(from)
  }

  async run (...argv: string[]): Promise<CliResult> {
    return await hwd(['run', '--home', this.home, ...argv])
  }

  async status (): Promise<Status> {
    const r = await hwd(['status', '--home', this.home, '--json'])
    if (r.code !== 0) throw new Error(`status failed: ${r.stderr}`)
    return JSON.parse(r.stdout) as Status
  }

  async stop (signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.running) this.proc.kill(signal)
    const code = await this.exited
    nodes.delete(this)
    return code
  }
}

const nodes = new Set<TestNode>()

/** Stop every node a test started and remove their homes; for `after`/`afterEach`. */
export async function stopAll (): Promise<void> {
  await Promise.all([...nodes].map(async n => await n.stop('SIGKILL')))
  await Promise.all([...homes].map(async h => { await rm(h, { recursive: true, force: true }) }))
  homes.clear()
}

/** Poll `check` until it returns a value, for state that only a query reveals; fails at the deadline. */
export async function eventually<T> (what: string, check: () => Promise<T | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      const value = await check()
      if (value !== undefined && value !== false) return value
    } catch (err) {
      last = err
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`timed out waiting for ${what}${last != null ? `: ${String(last)}` : ''}`)
}

export const CHAT_PKG = 'chat-with-file-transfer:template.os'
export const FT_PKG = 'file-transfer:template.os'

/** Where `pkg`'s files live in a node's home. */
export function drive (node: TestNode, pkg = CHAT_PKG): string {
  return join(node.home, 'vfs', pkg, 'files')
}

/** Whether the node holds a connection to `peerId` now. */
export function connected (status: Status, peerId: string): boolean {
  return status.peers.some(p => p.peerId === peerId)
}

export function knows (status: Status, name: string, peerId: string): boolean {
  return status.names.some(n => n.name === name && n.peerId === peerId)
}

/** fake.dev, and fake2.dev joined to it by --peer, once each knows the other's name. */
export async function pair (): Promise<[TestNode, TestNode]> {
  const a = await TestNode.start({ name: 'fake.dev' })
  const b = await TestNode.start({ name: 'fake2.dev', peers: [a.addr] })
  await eventually('names exchanged', async () => knows(await a.status(), 'fake2.dev', b.peerId) && knows(await b.status(), 'fake.dev', a.peerId))
  return [a, b]
}
