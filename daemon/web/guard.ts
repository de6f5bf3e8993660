/**
 * Who may use the node's web page: only its owner, the one who holds the key in the home.
 *
 * - The key comes once in the address the node prints (`/?key=...`) and is then kept in an
 *   HttpOnly, SameSite=Strict cookie, so no script reads it and no other site's page sends it.
 * - The Host header must name the node's own address: a page on a name of an attacker's that
 *   resolves to 127.0.0.1 (DNS rebinding) is refused before anything else.
 * - A request that changes anything must come from the page itself (its Origin), and nothing
 *   grants another origin access (no CORS headers).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { isIP } from 'node:net'

/** Loopback names a browser on the same machine may use for the page. */
const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]']
/** A bookmarked page keeps working for this long without the key again. */
const COOKIE_MAX_AGE_S = 365 * 24 * 3600

export type Verdict =
  | { ok: true }
  | { ok: false, status: 401 | 403, reason: string }

export class Guard {
  /**
   * Named after the key: cookies are kept per host, not per port, so nodes on one machine
   * (or behind ports published from containers) each need a cookie of their own.
   */
  readonly cookieName: string
  private readonly hosts: Set<string>
  private readonly key: Buffer
  /** the host a browser opens the page at */
  private readonly host: string

  /** `bound` is the address the server listens on; `port` the one it got */
  constructor (secret: string, bound: string, readonly port: number) {
    this.key = Buffer.from(secret)
    this.cookieName = `hwd-${createHash('sha256').update(secret).digest('hex').slice(0, 12)}`
    const own = isLoopbackOrAny(bound) ? undefined : isIP(bound) === 6 ? `[${bound}]` : bound
    this.host = own ?? '127.0.0.1'
    this.hosts = new Set([...LOOPBACK, ...own != null ? [own] : []].map(h => `${h}:${port}`))
  }

  /** The address a browser opens the page at, key included. */
  address (): string {
    return `http://${this.host}:${this.port}/?key=${this.key.toString()}`
  }

  /** Whether this request may go further. */
  check (req: IncomingMessage): Verdict {
    const host = req.headers.host ?? ''
    if (!this.hosts.has(host.toLowerCase())) return { ok: false, status: 403, reason: `this page answers only at ${[...this.hosts][0]}` }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      // Browsers send Origin with every such request; one from elsewhere, or none, is refused.
      if (req.headers.origin !== `http://${host}`) return { ok: false, status: 403, reason: 'refused: a request from another origin' }
      const site = req.headers['sec-fetch-site']
      if (site != null && site !== 'same-origin') return { ok: false, status: 403, reason: 'refused: a request from another site' }
    }
    if (!this.holdsKey(cookie(req, this.cookieName))) return { ok: false, status: 401, reason: 'open the address the node printed at start (hwd status shows it): it holds the key' }
    return { ok: true }
  }

  /** The `?key=` of a login, if it is the right one: then `setCookie` is its answer. */
  holdsKey (given: string | null | undefined): boolean {
    if (given == null) return false
    const candidate = Buffer.from(given)
    return candidate.length === this.key.length && timingSafeEqual(candidate, this.key)
  }

  setCookie (): string {
    return `${this.cookieName}=${this.key.toString()}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${COOKIE_MAX_AGE_S}`
  }
}

function isLoopbackOrAny (address: string): boolean {
  return ['0.0.0.0', '::', '127.0.0.1', '::1'].includes(address)
}

function cookie (req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=')
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}
