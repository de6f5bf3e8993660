/**
 * The node's web page: its owner's view of peers, drives, transfers and chat (`web/` is the
 * page, `web/api.ts` what the two say to each other). It listens on 127.0.0.1 unless told
 * otherwise, and `Guard` decides who gets past the door.
 *
 * What the page does, it does through the terminal's commands (`Commands.execute`, as the
 * prompt and `hwd run` do), so both always agree; only an upload, which no command does, goes
 * straight to the drive (`Drive.receive`, with the drive's own name rules).
 */
import { readdir, readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { extname, join, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { logger } from '@libp2p/logger'
import { describeError, PortBusyError, quoted } from '../../errors.ts'
import type { Drive } from '../../storage/vfs.ts'
import type { PageState, RunReply, TransfersEvent } from '../../web/api.ts'
import type { Commands } from '../commands.ts'
import { formatBytes } from '../format.ts'
import { MAX_REQUEST_BYTES } from '../control.ts'
import type { Echo } from '../terminal.ts'
import { Guard } from './guard.ts'
import { Live } from './live.ts'

const log = logger('hwd:web')

/** The largest file the page uploads into a drive at once. */
const MAX_UPLOAD_BYTES = 4 * 1024 ** 3

/** `web/`: the page's markup and style, as written */
const PAGE_DIR = fileURLToPath(new URL('../../../web/', import.meta.url))
/** `dist/page/`: the page's scripts, compiled from `web/` by `tsc -p web` */
const SCRIPT_DIR = fileURLToPath(new URL('../../page/', import.meta.url))

/** the page's script, which `index.html` loads */
const ENTRY = '/web/app.js'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8'
}

/** On every answer: nothing runs, loads or frames but the page's own, and nothing is cached. */
const HEADERS = {
  'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store'
}

export interface WebParts {
  secret: string
  commands: Commands
  /** the node's terminal, which shows the progress of what the page runs, as it does for `hwd run` */
  echo: Echo
  state(): Promise<PageState>
  transfers(): TransfersEvent
  drives(): Drive[]
}

export class WebServer {
  private server?: Server
  private guard?: Guard
  private files = new Map<string, { type: string, body: Buffer }>()
  private readonly live: Live
  private readonly controller = new AbortController()
  /** the page's address, key included, once listening */
  address?: string

  constructor (private readonly parts: WebParts) {
    this.live = new Live({ state: parts.state, transfers: parts.transfers, folders: () => parts.drives().map(d => d.root) })
  }

  async start (host: string, port: number): Promise<void> {
    this.files = await pageFiles()
    const server = createServer({ requestTimeout: 0 }, (req, res) => { void this.handle(req, res) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: any) => {
        reject(err.code === 'EADDRINUSE' ? new PortBusyError(`web page port ${port} on ${host} is already in use; choose another with --http PORT, or --no-http`) : err)
      })
      server.listen(port, host, () => { resolve() })
    })
    const bound = server.address()
    if (bound == null || typeof bound === 'string') throw new Error('the web server has no port')
    this.server = server
    this.guard = new Guard(this.parts.secret, host, bound.port)
    this.address = this.guard.address()
    this.live.start()
  }

  async stop (): Promise<void> {
    this.controller.abort()
    this.live.stop()
    const closed = new Promise<void>(resolve => { this.server?.close(() => { resolve() }) ?? resolve() })
    this.server?.closeAllConnections() // a page's keep-alive connection would hold the stop up
    await closed
  }

  /** Something the page shows changed (a peer, a name): it is told. */
  changed (): void {
    this.live.changed()
  }

  /** A package was loaded or unloaded: its drive's folder is watched, or no more, and the page told. */
  packagesChanged (): void {
    this.live.watchFolders()
    this.live.changed()
  }

  /** What a package published (`message`: a chat entry): open pages show it at once. */
  publish (pkg: string, topic: string, detail: unknown): void {
    this.live.broadcast('publish', { package: pkg, topic, detail })
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    for (const [k, v] of Object.entries(HEADERS)) res.setHeader(k, v)
    try {
      const guard = this.guard!
      const url = new URL(req.url ?? '/', 'http://page')
      const verdict = guard.check(req)
      const key = url.searchParams.get('key')
      if ((verdict.ok || verdict.status === 401) && req.method === 'GET' && url.pathname === '/' && guard.holdsKey(key)) {
        // the key leaves the address bar (and the history) at once
        res.writeHead(303, { 'Set-Cookie': guard.setCookie(), Location: '/' }).end()
        return
      }
      if (!verdict.ok) {
        // a person may be reading this in a browser's window: plain words
        res.writeHead(verdict.status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`hwd: ${verdict.reason}\n`)
        return
      }
      await this.route(req, res, url)
    } catch (err) {
      log('%s %s failed - %e', req.method, req.url, err)
      if (!res.headersSent) reply(res, 500, { error: describeError(err) })
      else res.destroy()
    }
  }

  private async route (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname
    if (req.method === 'GET' && path === '/api/state') return reply(res, 200, await this.parts.state())
    if (req.method === 'GET' && path === '/api/events') return await this.live.open(res)
    if (req.method === 'POST' && path === '/api/run') {
      const body = await readJson(req)
      if (body === TOO_LONG) return reply(res, 413, { error: `request longer than ${MAX_REQUEST_BYTES} bytes` })
      return reply(res, 200, await this.run(body))
    }
    if (req.method === 'PUT' && path.startsWith('/api/drives/')) return await this.upload(req, res, path.slice('/api/drives/'.length), url.searchParams.get('name'))
    const file = req.method === 'GET' ? this.files.get(path) : undefined
    if (file == null) return reply(res, 404, { error: `no ${req.method ?? ''} ${path} here` })
    if (path === '/' && !this.files.has(ENTRY)) {
      // built with `tsc -p .` alone: the node runs, its page says what is missing
      res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8' }).end('hwd: this web page\'s scripts are not built; npm run build builds them (tsc -p web)\n')
      return
    }
    res.writeHead(200, { 'Content-Type': file.type }).end(file.body)
  }

  /** A terminal command, run as the prompt runs it; its lines and result are the answer (its progress: `transfers` events). */
  private async run (body: unknown): Promise<RunReply> {
    const argv = (body as { argv?: unknown } | undefined)?.argv
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every(a => typeof a === 'string')) {
      return { ok: false, error: 'argv must be a non-empty array of strings' }
    }
    const lines: string[] = []
    let result: unknown
    const echo = this.parts.echo.scope()
    try {
      await this.parts.commands.execute(argv, {
        line: text => { lines.push(text) },
        progress: update => { echo.progress(update) },
        result: value => { result = value }
      }, this.controller.signal)
      return { ok: true, lines, result }
    } catch (err) {
      return { ok: false, error: describeError(err) }
    } finally {
      echo.end()
    }
  }

  /** `PUT /api/drives/PKG?name=NAME`: the body, streamed into PKG's drive as NAME. */
  private async upload (req: IncomingMessage, res: ServerResponse, encodedPkg: string, name: string | null): Promise<void> {
    let pkg: string
    try {
      pkg = decodeURIComponent(encodedPkg)
    } catch (err: any) {
      return reply(res, 400, { error: err.message })
    }
    if (name == null) return reply(res, 400, { error: 'expected /api/drives/PKG?name=NAME' })
    const drive = this.parts.drives().find(d => d.id === pkg)
    if (drive == null) return reply(res, 404, { error: `no drive ${quoted(pkg)} on this node` })
    if (Number(req.headers['content-length'] ?? 0) > MAX_UPLOAD_BYTES) {
      res.setHeader('Connection', 'close')
      return reply(res, 413, { error: `${name} is larger than the ${formatBytes(MAX_UPLOAD_BYTES)} a drive takes at once` })
    }
    try {
      const size = await drive.receive(name, req, MAX_UPLOAD_BYTES)
      reply(res, 201, { name, size })
    } catch (err: any) {
      const status = ({ InvalidFileNameError: 400, FileExistsError: 409, TooLargeError: 413 } as Record<string, number>)[err.name]
      if (status == null) throw err
      res.setHeader('Connection', 'close') // what is left of the body is not read
      reply(res, status, { error: err.message })
    }
  }
}

function reply (res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' }).end(JSON.stringify(body))
}

/** What `readJson` gives for a body over MAX_REQUEST_BYTES. */
const TOO_LONG = Symbol('too long')

/** A request's JSON body, of at most MAX_REQUEST_BYTES, as the control socket takes it; undefined when it is no JSON. */
async function readJson (req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength
    if (size > MAX_REQUEST_BYTES) return TOO_LONG
    chunks.push(chunk)
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'))
  } catch {
    return undefined
  }
}

/** The page's files by the path a browser asks for: read once, so no request's path ever reaches the disk. */
async function pageFiles (): Promise<Map<string, { type: string, body: Buffer }>> {
  const files = new Map<string, { type: string, body: Buffer }>()
  files.set('/', { type: TYPES['.html'], body: await readFile(join(PAGE_DIR, 'index.html')) })
  files.set('/style.css', { type: TYPES['.css'], body: await readFile(join(PAGE_DIR, 'style.css')) })
  for (const entry of await readdir(SCRIPT_DIR, { recursive: true }).catch(() => [])) {
    if (extname(entry) !== '.js') continue
    const path = '/' + entry.split(sep).join('/')
    files.set(path, { type: TYPES['.js'], body: await readFile(join(SCRIPT_DIR, entry)) })
  }
  return files
}
