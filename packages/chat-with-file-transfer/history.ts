/**
 * The `history` and `search` scripts: pages of one conversation, and messages found by their
 * text, read from the database a page at a time.
 */
import { parseArgs } from 'node:util'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { HwdError, printable, type PackageContext, type Script } from 'hwd/package'
import type { ChatStore } from './chat-store.ts'
import type { ChatEntry } from './entry.ts'

/** What `history` shows unless told `--last N`, and the most `search` shows. */
const PAGE = 50
const USAGE = 'usage: history NODE [--last N] [--before TIME]'

export function historyScripts (ctx: PackageContext, store: ChatStore): Record<'history' | 'search', Script> {
  return {
    history: async (args, { out }) => {
      const { node, last, before } = historyArgs(args)
      const peer = ctx.resolve(node).toString()
      const page = store.page(peer, last, before)
      out.result?.(page.entries)
      if (page.entries.length === 0) {
        out.line(before == null ? `no messages with ${node} yet` : `no messages with ${node} before ${new Date(before).toISOString()}`)
        return
      }
      if (page.older != null) out.line(`(older messages: history ${node} --before ${new Date(page.older).toISOString()})`)
      for (const e of page.entries) out.line(line(e, ''))
    },
    search: async ([text, node], { out }) => {
      const peer = node == null ? undefined : ctx.resolve(node)
      const found = store.search(text, PAGE, peer?.toString())
      if (found.length === 0) { out.line(`no messages contain ${printable(text)}`); return }
      const name = (id: string): string => printable(nameOf(ctx, peer ?? id) ?? id)
      for (const e of found) out.line(line(e, e.dir === 'out' ? ` → ${name(e.peer)}` : ''))
      if (found.length === PAGE) out.line(`(the newest ${PAGE} shown)`)
    }
  }
}

/** The name a peer goes by, if known, also for a stored id that no longer parses. */
function nameOf (ctx: PackageContext, peer: PeerId | string): string | undefined {
  try {
    return ctx.nameOf(typeof peer === 'string' ? peerIdFromString(peer) : peer)
  } catch {
    return undefined
  }
}

/** One message as history and search print it; `to` names the receiver of our own messages. */
function line (e: ChatEntry, to: string): string {
  const why = e.unconfirmed == null ? '' : ` (${printable(e.unconfirmed)})`
  return `${new Date(e.at).toISOString()} ${printable(e.from)}${to}: ${printable(e.text)}${why}`
}

function historyArgs (args: string[]): { node: string, last: number, before?: number } {
  const { values, positionals } = parse(args)
  if (positionals.length !== 1) throw new HwdError(USAGE)
  const last = Number(values.last ?? PAGE)
  if (!Number.isSafeInteger(last) || last < 1) throw new HwdError(`--last takes a whole number of messages, not ${printable(values.last ?? '')}`)
  return { node: positionals[0], last, ...(values.before == null ? {} : { before: time(values.before) }) }
}

function parse (args: string[]): { values: { last?: string, before?: string }, positionals: string[] } {
  try {
    return parseArgs({ args, allowPositionals: true, options: { last: { type: 'string' }, before: { type: 'string' } } })
  } catch (err: any) {
    throw new HwdError(`${printable(err.message)}; ${USAGE}`)
  }
}

/** A time as history prints it (2026-01-02T03:04:05.678Z), or ms since the epoch. */
function time (text: string): number {
  const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text)
  if (!Number.isSafeInteger(ms)) throw new HwdError(`--before takes a time as history prints it (${new Date(0).toISOString()}), not ${printable(text)}`)
  return ms
}
