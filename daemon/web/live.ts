/**
 * The page's live view: server-sent events to every open page. `state` whenever what the page
 * shows of the node may have changed (a peer came or went, a name was learned, a drive's files
 * changed), `transfers` a few times a second while any run or one has ended, `publish` as a
 * package publishes (a chat entry).
 */
import { watch, type FSWatcher } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { logger } from '@libp2p/logger'
import { isPartial } from '../../storage/vfs.ts'
import type { PageState, TransfersEvent } from '../../web/api.ts'

const log = logger('hwd:web')

/** Transfers are sent this often while any run: smooth bars, little cost. */
const TRANSFERS_MS = 250
/** Changes closer together than this (a download's files, a burst of peers) make one `state`. */
const SETTLE_MS = 150
/** A comment this often keeps proxies and idle-timeouts from closing a quiet stream. */
const KEEPALIVE_MS = 15_000

export interface LiveSources {
  state(): Promise<PageState>
  transfers(): TransfersEvent
  /** the drives' folders, watched for files coming and going; `watchFolders` follows it as packages come and go */
  folders(): string[]
}

export class Live {
  private readonly clients = new Set<ServerResponse>()
  /** by folder */
  private readonly watchers = new Map<string, FSWatcher>()
  /** between `start` and `stop`: only then are folders watched */
  private on = false
  /** a `state` being computed: a change meanwhile makes one more after it, never two at once */
  private computing = false
  private again = false
  private ticker?: NodeJS.Timeout
  private keepalive?: NodeJS.Timeout
  private settle?: NodeJS.Timeout
  /** whether the last `transfers` sent listed any running: one more follows the last of them */
  private running = false
  /** the last transfer that had ended when `transfers` was last sent */
  private lastEnded?: string

  constructor (private readonly sources: LiveSources) {}

  start (): void {
    this.on = true
    this.watchFolders()
    this.ticker = setInterval(() => { this.tick() }, TRANSFERS_MS)
    this.keepalive = setInterval(() => { for (const c of this.clients) c.write(':\n\n') }, KEEPALIVE_MS)
  }

  stop (): void {
    this.on = false
    for (const w of this.watchers.values()) w.close()
    this.watchers.clear()
    clearInterval(this.ticker)
    clearInterval(this.keepalive)
    clearTimeout(this.settle)
    for (const c of this.clients) c.end()
    this.clients.clear()
  }

  /** Watch each drive's folder not watched yet, and no more those of drives gone (a package installed, uninstalled). */
  watchFolders (): void {
    if (!this.on) return
    const folders = new Set(this.sources.folders())
    for (const [folder, watcher] of this.watchers) {
      if (!folders.has(folder)) { watcher.close(); this.watchers.delete(folder) }
    }
    for (const folder of folders) {
      if (this.watchers.has(folder)) continue
      try {
        // a partial file's every write is an event; only a file coming, going or changing is news
        this.watchers.set(folder, watch(folder, (_event, name) => { if (name == null || !isPartial(name)) this.changed() }))
      } catch (err) {
        log('cannot watch %s - %e', folder, err)
      }
    }
  }

  /** A page's event stream, opened with what it shows now. */
  async open (res: ServerResponse): Promise<void> {
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store' })
    res.write('retry: 1000\n\n')
    this.clients.add(res)
    res.on('close', () => { this.clients.delete(res) })
    send(res, 'state', await this.sources.state())
    send(res, 'transfers', this.sources.transfers())
  }

  /**
   * Something the page shows may have changed: send `state` once things settle. A state reads
   * every drive, which may outlast SETTLE_MS: changes while one is computed make one more after it.
   */
  changed (): void {
    if (this.clients.size === 0) return
    if (this.computing) { this.again = true; return }
    if (this.settle != null) return
    this.settle = setTimeout(() => {
      this.settle = undefined
      void this.sendState()
    }, SETTLE_MS)
  }

  private async sendState (): Promise<void> {
    this.computing = true
    try {
      this.broadcast('state', await this.sources.state())
    } catch (err) {
      log('state failed - %e', err)
    } finally {
      this.computing = false
      if (this.again) {
        this.again = false
        this.changed()
      }
    }
  }

  broadcast (event: string, data: unknown): void {
    for (const c of this.clients) send(c, event, data)
  }

  private tick (): void {
    if (this.clients.size === 0) return
    const transfers = this.sources.transfers()
    const lastEnded = transfers.ended.at(-1)?.id
    if (transfers.running.length === 0 && !this.running && lastEnded === this.lastEnded) return
    this.running = transfers.running.length > 0
    this.lastEnded = lastEnded
    this.broadcast('transfers', transfers)
  }
}

/** One event; JSON holds no raw newline, so the data is one line. */
function send (res: ServerResponse, event: string, data: unknown): void {
  res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`)
}
