/**
 * What the node's web server and its page say to each other: the JSON of its answers and of
 * its server-sent events. Types only, shared by both sides (`daemon/web/`, `web/`).
 *
 *   GET  /?key=SECRET          sets the owner's cookie, then redirects to /
 *   GET  /api/state            PageState
 *   GET  /api/events           server-sent events: `state` (PageState), `transfers`
 *                              (TransfersEvent, while any run or one ends), `publish`
 *                              (PublishEvent)
 *   POST /api/run              {"argv": [...]}: a terminal command, answered with a RunReply
 *   PUT  /api/drives/PKG?name=NAME   the body saved as file NAME in PKG's drive: 201, or
 *                              {"error"} (NAME is in the query, where a browser leaves `..` be)
 */

export interface FileView { name: string, size: number }

export interface PeerView {
  peerId: string
  name?: string
  /** the remote end of each connection, `/ip4/127.0.0.1/tcp/8081` */
  addresses: string[]
  /** how it is connected, as `peers` says: `direct`, or `relayed via r.dev` */
  route: string
}

export interface PageState {
  name: string
  peerId: string
  listen: string[]
  addresses: string[]
  /** `direct`; `relayed`: behind a NAT, reached through a relay; `unreachable`: behind a NAT, and no relay holds a slot for it; `relay`: relaying for others */
  reachability: 'direct' | 'relayed' | 'unreachable' | 'relay'
  peers: PeerView[]
  names: Array<{ name: string, peerId: string }>
  packages: Array<{ id: string, version: string }>
  /** every package's own drive and the files in it */
  drives: Array<{ package: string, files: FileView[] }>
  /** every terminal command: `download:PKG` and `send:PKG` say what a package's drive and chat offer */
  commands: string[]
}

export interface TransferView {
  id: string
  label: string
  drive: string
  peer: string
  direction: 'download' | 'upload'
  done: number
  total?: number
}

/**
 * The transfers running, and the last ones that ended with how each did (`done`, `sent`,
 * `cancelled`, `failed`) as its worker reported it; `error`: the worker's one line, escaped
 */
export interface TransfersEvent {
  running: TransferView[]
  ended: Array<TransferView & { outcome: string, error?: string }>
}

/** A chat message, as the chat package stores and publishes it */
export type { ChatEntry as ChatEntryView } from '../packages/chat-with-file-transfer/entry.ts'

/** What a package published; the chat's `message` carries a ChatEntryView */
export interface PublishEvent { package: string, topic: string, detail: unknown }

/** A listing, as `list-files:` gives it */
export interface ListingView { files: FileView[], refused: number }

export type RunReply =
  | { ok: true, lines: string[], result?: unknown }
  | { ok: false, error: string }
