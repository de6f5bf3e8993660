/**
 * The control socket `<home>/hwd.sock`: how `hwd run` and `hwd status` reach a running daemon.
 *
 * A client writes one request as a line of JSON and reads lines of JSON back until a final
 * `ok` or `error`:
 *   → {"op":"run","argv":["download:...","my_file.txt","fake2.dev"]}   or   {"op":"status"}
 *     ("ask":true in a run: the client can put a question to a person, see `ask` below)
 *   ← {"t":"line","text":"..."}  {"t":"progress","id":"..","label":"..","done":N,"total":N}
 *   ← {"t":"status","status":{...}}
 *   ← {"t":"ask","question":"...","argv":[...]}   (the command wants a yes first: argv does it)
 *   ← {"t":"ok"}  or  {"t":"error","message":"one line"}
 * Closing the socket early aborts the command. The socket is mode 0600: whoever can use it
 * owns the node.
 */
import { chmod, unlink } from 'node:fs/promises'
import { createServer, type Server, type Socket } from 'node:net'
import { logger } from '@libp2p/logger'
import { describeError } from '../errors.ts'
import { progressGate, type CommandOutput, type Commands, type Progress } from './commands.ts'
import type { Echo } from './terminal.ts'

const log = logger('hwd:control')

/** A request is one short line; anything longer is refused unread. */
export const MAX_REQUEST_BYTES = 64 * 1024
/** A client that connects and says nothing is dropped after this. */
const REQUEST_TIMEOUT_MS = 10_000

/** `ask`: the client can put a question to a person (`hwd install`); else a command says what to type */
export type Request = { op: 'run', argv: string[], ask?: boolean } | { op: 'status' }

export type Reply =
  | { t: 'line', text: string }
  | ({ t: 'progress' } & Progress)
  | { t: 'status', status: unknown }
  | { t: 'ask', question: string, argv: string[] }
  | { t: 'ok' }
  | { t: 'error', message: string }

export class ControlServer {
  private server?: Server
  private readonly clients = new Set<Socket>()
  private status: () => Promise<unknown> = async () => undefined

  /** `echo` is the node's own terminal: it shows the progress of what clients run, as Hyperware's does */
  constructor (private readonly path: string, private readonly commands: Commands, private readonly echo: Echo) {}

  async start (status: () => Promise<unknown>): Promise<void> {
    this.status = status
    // Only the lock holder gets here, so a socket file left behind is a crashed daemon's.
    await unlink(this.path).catch(() => {})
    // half-open: a client may end its side after the request (as `nc -N` does) and still be answered
    const server = createServer({ allowHalfOpen: true }, socket => { this.serve(socket) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.path, () => { server.off('error', reject); resolve() })
    })
    await chmod(this.path, 0o600)
    this.server = server
  }

  async stop (): Promise<void> {
    for (const socket of this.clients) socket.destroy()
    await new Promise<void>(resolve => { this.server?.close(() => { resolve() }) ?? resolve() })
    await unlink(this.path).catch(() => {})
  }

  private serve (socket: Socket): void {
    this.clients.add(socket)
    const controller = new AbortController()
    socket.on('close', () => { this.clients.delete(socket); controller.abort() })
    socket.on('error', err => { log('client error - %e', err) })
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => socket.destroy())
    let buffered = ''
    // a decoder across chunks, so a character split between two writes arrives whole
    socket.setEncoding('utf8')
    const onData = (data: string): void => {
      buffered += data
      const end = buffered.indexOf('\n')
      if (end === -1 && buffered.length <= MAX_REQUEST_BYTES) return
      socket.off('data', onData)
      socket.setTimeout(0)
      if (end === -1) {
        this.finish(socket, { t: 'error', message: `request longer than ${MAX_REQUEST_BYTES} bytes` })
        return
      }
      void this.handle(buffered.slice(0, end), socket, controller.signal)
    }
    socket.on('data', onData)
  }

  private async handle (line: string, socket: Socket, signal: AbortSignal): Promise<void> {
    // Replies given in one tick leave in one write: a command's last line and the final `ok`
    // that follows it cost the client one wake-up, not two (`end` flushes what is corked).
    let corked = false
    const send = (reply: Reply): void => {
      if (socket.destroyed) return
      if (!corked) {
        corked = true
        socket.cork()
        process.nextTick(() => { corked = false; socket.uncork() })
      }
      socket.write(JSON.stringify(reply) + '\n')
    }
    let request: Request
    try {
      request = parseRequest(line)
    } catch (err: any) {
      this.finish(socket, { t: 'error', message: `malformed request: ${err.message}` })
      return
    }
    try {
      if (request.op === 'status') {
        send({ t: 'status', status: await this.status() })
      } else {
        const echo = this.echo.scope()
        try {
          await this.commands.execute(request.argv, this.output(send, echo, request.ask === true), signal)
        } finally {
          echo.end()
        }
      }
      this.finish(socket, { t: 'ok' })
    } catch (err) {
      this.finish(socket, { t: 'error', message: describeError(err) })
    }
  }

  /** A command's output to one client, with its progress through a gate of its own. */
  private output (send: (reply: Reply) => void, echo: CommandOutput, canAsk: boolean): CommandOutput {
    const gate = progressGate()
    return {
      line: text => { send({ t: 'line', text }) },
      ...(canAsk ? { ask: (question: string, argv: string[]) => { send({ t: 'ask', question, argv }) } } : {}),
      progress: update => {
        echo.progress(update)
        if (gate(update)) send({ t: 'progress', ...update })
      }
    }
  }

  private finish (socket: Socket, reply: Reply): void {
    if (!socket.destroyed) socket.end(JSON.stringify(reply) + '\n')
  }
}

function parseRequest (line: string): Request {
  const value: unknown = JSON.parse(line)
  if (typeof value !== 'object' || value == null) throw new Error('expected a JSON object')
  const op = (value as { op?: unknown }).op
  if (op === 'status') return { op }
  if (op === 'run') {
    const argv = (value as { argv?: unknown }).argv
    if (!Array.isArray(argv) || argv.length === 0 || !argv.every(a => typeof a === 'string')) {
      throw new Error('argv must be a non-empty array of strings')
    }
    return { op, argv, ask: (value as { ask?: unknown }).ask === true }
  }
  throw new Error('op must be "run" or "status"')
}
