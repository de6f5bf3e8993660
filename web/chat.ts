/**
 * Chat with one peer at a time: its history (`history:`), a send box (`send:`), and messages
 * as they arrive (the chat package publishes each entry, ours and theirs, once stored).
 */
import type { ChatEntryView, PageState } from './api.ts'
import { byId, el, notice, options } from './dom.ts'

export type Run = (argv: string[]) => Promise<{ ok: boolean, result?: unknown }>

export class Chat {
  /** the chat package's id, once a package offers `send:` and `history:` */
  private pkg?: string
  /** peer ids with messages not seen yet */
  private readonly unread = new Set<string>()
  private state?: PageState

  constructor (private readonly run: Run) {
    byId<HTMLSelectElement>('chat-peer').addEventListener('change', () => { void this.open() })
    byId<HTMLFormElement>('chat-form').addEventListener('submit', evt => { evt.preventDefault(); void this.send() })
  }

  /** The node's state changed: the peers one can chat with, and which package chats. */
  update (state: PageState): void {
    this.state = state
    const pkg = state.packages.find(p => state.commands.includes(`send:${p.id}`) && state.commands.includes(`history:${p.id}`))?.id
    const select = byId<HTMLSelectElement>('chat-peer')
    const before = select.value
    options(select, others(state).map(n => ({ value: n.name, label: `${n.name}${this.unread.has(n.peerId) ? ' •' : ''}` })))
    if (pkg !== this.pkg || select.value !== before) {
      this.pkg = pkg
      void this.open()
    }
  }

  /** Show `node`'s conversation, as from its Chat button. */
  show (node: string): void {
    const select = byId<HTMLSelectElement>('chat-peer')
    select.value = node
    void this.open()
    byId('chat').scrollIntoView({ behavior: 'smooth' })
  }

  /** An entry the chat package stored: shown if its conversation is open, else marked unread. */
  received (pkg: string, entry: ChatEntryView): void {
    if (pkg !== this.pkg) return
    if (entry.peer === this.peerId()) {
      this.append(entry)
    } else if (entry.dir === 'in') {
      this.unread.add(entry.peer)
      if (this.state != null) this.update(this.state)
    }
  }

  private peerId (): string | undefined {
    const name = byId<HTMLSelectElement>('chat-peer').value
    return this.state?.names.find(n => n.name === name)?.peerId
  }

  private async open (): Promise<void> {
    const list = byId('messages')
    const node = byId<HTMLSelectElement>('chat-peer').value
    list.replaceChildren()
    if (this.pkg == null || node === '') return
    const peer = this.peerId()
    if (peer != null) this.unread.delete(peer)
    const reply = await this.run([`history:${this.pkg}`, node])
    if (!reply.ok || byId<HTMLSelectElement>('chat-peer').value !== node) return
    list.replaceChildren()
    for (const entry of reply.result as ChatEntryView[]) this.append(entry)
  }

  private async send (): Promise<void> {
    const input = byId<HTMLInputElement>('chat-text')
    const node = byId<HTMLSelectElement>('chat-peer').value
    const words = input.value
    if (this.pkg == null || node === '' || words.trim() === '') return
    input.value = ''
    const reply = await this.run([`send:${this.pkg}`, node, words])
    if (!reply.ok) input.value = words // kept to send again; the error is in the notice
    else notice(`delivered to ${node}`)
  }

  private append (entry: ChatEntryView): void {
    const list = byId('messages')
    const at = new Date(entry.at)
    list.append(el('li', { class: `message ${entry.dir}` },
      el('span', { class: 'from' }, entry.from),
      el('time', { datetime: at.toISOString() }, at.toLocaleTimeString()),
      el('p', {}, entry.text),
      entry.unconfirmed == null ? undefined : el('span', { class: 'quiet' }, `not delivered: ${entry.unconfirmed}`)))
    list.scrollTop = list.scrollHeight
  }
}

/** The nodes known besides this one, connected ones first. */
export function others (state: PageState): Array<{ name: string, peerId: string }> {
  const connected = new Set(state.peers.map(p => p.peerId))
  return state.names
    .filter(n => n.peerId !== state.peerId)
    .sort((a, b) => Number(connected.has(b.peerId)) - Number(connected.has(a.peerId)) || a.name.localeCompare(b.name))
}
