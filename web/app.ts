/**
 * The node's web page: what `hwd status` and the terminal's commands show, kept live by the
 * server's events (web/api.ts). Every action runs a terminal command through `POST /api/run`;
 * a file dropped on a drive is uploaded with `PUT /api/drives/PKG?name=NAME`.
 */
import { formatBytes, REACHED } from '../daemon/format.ts'
import type { ChatEntryView, ListingView, PageState, PublishEvent, RunReply, TransfersEvent } from './api.ts'
import { Chat, others } from './chat.ts'
import { button, byId, el, notice, options } from './dom.ts'
import { Transfers } from './transfers.ts'

/** Why the node refused a request, in its words: the API's `{ error }`, or the guard's plain line. */
async function refusal (res: Response): Promise<string> {
  const text = await res.text()
  try {
    return (JSON.parse(text) as { error?: string }).error ?? text
  } catch {
    return text.replace(/^hwd: /, '').trim() || `${res.status} ${res.statusText}`
  }
}

async function run (argv: string[]): Promise<RunReply> {
  let reply: RunReply
  try {
    const res = await fetch('/api/run', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ argv }) })
    reply = res.ok ? await res.json() as RunReply : { ok: false, error: await refusal(res) }
  } catch (err) {
    reply = { ok: false, error: `the node did not answer (${String(err)})` }
  }
  if (!reply.ok) notice(reply.error, true)
  return reply
}

const transfers = new Transfers(id => { void run(['cancel', id]).then(r => { if (r.ok) notice(r.lines.join(' ')) }) })
const chat = new Chat(run)

function render (s: PageState): void {
  document.title = `${s.name} · hwd`
  byId('node-name').textContent = s.name
  byId('node-id').textContent = s.peerId
  byId('node-reached').textContent = REACHED[s.reachability]
  byId('node-addresses').replaceChildren(...[...new Set([...s.addresses, ...s.listen])].map(a => el('li', {}, a)))
  renderPeers(s)
  renderDrives(s)
  byId('package-list').replaceChildren(...s.packages.map(p => el('li', {}, `${p.id} ${p.version}`)))
  const nodes = others(s).map(n => ({ value: n.name, label: n.name }))
  options(byId<HTMLSelectElement>('browse-peer'), nodes)
  options(byId<HTMLSelectElement>('browse-drive'), drivesOffered(s).map(id => ({ value: id, label: id })))
  chat.update(s)
}

/** Packages whose drive a peer can be asked about: they offer `list-files:` and `download:`. */
function drivesOffered (s: PageState): string[] {
  return s.packages.map(p => p.id).filter(id => s.commands.includes(`list-files:${id}`) && s.commands.includes(`download:${id}`))
}

function renderPeers (s: PageState): void {
  const list = byId('peer-list')
  if (s.peers.length === 0) { list.replaceChildren(el('li', { class: 'quiet' }, 'no peers connected')); return }
  list.replaceChildren(...s.peers.map(p => {
    const name = p.name ?? '?'
    return el('li', { class: 'peer' },
      el('div', { class: 'row' },
        el('strong', { class: 'name' }, name),
        p.name == null ? undefined : button('Files', () => { browse(name) }, 'small'),
        p.name == null ? undefined : button('Chat', () => { chat.show(name) }, 'small')),
      el('div', { class: 'mono quiet' }, p.peerId),
      el('div', { class: 'how' }, p.route),
      ...p.addresses.map(a => el('div', { class: 'mono how' }, a)))
  }))
}

function renderDrives (s: PageState): void {
  byId('drive-list').replaceChildren(...s.drives.map(d => {
    const input = el('input', { type: 'file', multiple: '', hidden: '' })
    input.addEventListener('change', () => { void upload(d.package, [...(input.files ?? [])]) })
    const zone = el('div', { class: 'drive', 'data-package': d.package },
      el('div', { class: 'row' }, el('h3', {}, d.package), button('Add files', () => { input.click() }, 'small')), input,
      d.files.length === 0 ? el('p', { class: 'quiet' }, 'no files yet') : fileTable(d.files.map(f => [f.name, formatBytes(f.size)])),
      el('p', { class: 'quiet drop-hint' }, 'drop files here to add them'))
    zone.addEventListener('dragover', evt => { evt.preventDefault(); zone.classList.add('over') })
    zone.addEventListener('dragleave', () => { zone.classList.remove('over') })
    zone.addEventListener('drop', evt => {
      evt.preventDefault()
      zone.classList.remove('over')
      void upload(d.package, [...(evt.dataTransfer?.files ?? [])])
    })
    return zone
  }))
}

function fileTable (rows: string[][], action?: (name: string) => HTMLElement): HTMLTableElement {
  const body = el('tbody')
  for (const [name, size] of rows) {
    body.append(el('tr', {}, el('td', { class: 'name' }, name), el('td', { class: 'size' }, size), action == null ? undefined : el('td', {}, action(name))))
  }
  return el('table', { class: 'files' }, body)
}

/** Files dropped or chosen: each streamed into the drive; the drive's listing follows by itself. */
async function upload (pkg: string, files: File[]): Promise<void> {
  for (const file of files) {
    try {
      const res = await fetch(`/api/drives/${encodeURIComponent(pkg)}?name=${encodeURIComponent(file.name)}`, { method: 'PUT', body: file })
      if (res.ok) notice(`saved ${file.name} (${formatBytes(file.size)}) in ${pkg}`)
      else notice(await refusal(res), true)
    } catch (err) {
      notice(`${file.name}: the node did not answer (${String(err)})`, true)
    }
  }
}

function browse (node: string): void {
  byId<HTMLSelectElement>('browse-peer').value = node
  void list()
  byId('browse').scrollIntoView({ behavior: 'smooth' })
}

/** `list-files:PKG NODE`, as a table with a download button per file. */
async function list (): Promise<void> {
  const node = byId<HTMLSelectElement>('browse-peer').value
  const pkg = byId<HTMLSelectElement>('browse-drive').value
  if (node === '' || pkg === '') return
  const note = byId('listing-note')
  note.textContent = `asking ${node}…`
  const reply = await run([`list-files:${pkg}`, node])
  if (!reply.ok) { note.textContent = ''; return }
  const { files, refused } = reply.result as ListingView
  note.textContent = `${node} offers ${files.length} ${files.length === 1 ? 'file' : 'files'} in ${pkg}` +
    (refused > 0 ? `; left out ${refused} ${refused === 1 ? 'name' : 'names'} no drive accepts` : '')
  const table = fileTable(files.map(f => [f.name, formatBytes(f.size)]), name => button('Download', () => { void download(pkg, name, node) }, 'small'))
  table.id = 'listing'
  byId('listing').replaceWith(table)
}

/** Its progress shows in the transfers (their events); its last line, or why it failed, in the notice. */
async function download (pkg: string, file: string, node: string): Promise<void> {
  const reply = await run([`download:${pkg}`, file, node])
  if (reply.ok) notice(reply.lines.at(-1) ?? `downloaded ${file}`)
}

byId<HTMLFormElement>('browse-form').addEventListener('submit', evt => { evt.preventDefault(); void list() })

function connect (): void {
  const live = byId('live')
  const events = new EventSource('/api/events')
  events.addEventListener('error', () => { live.textContent = 'reconnecting…'; live.className = 'pill off' })
  // the stream opens with the state: the page is drawn, and live, from its first event
  events.addEventListener('state', evt => {
    render(JSON.parse((evt as MessageEvent<string>).data) as PageState)
    live.textContent = 'live'
    live.className = 'pill on'
  })
  events.addEventListener('transfers', evt => { transfers.update(JSON.parse((evt as MessageEvent<string>).data) as TransfersEvent) })
  events.addEventListener('publish', evt => {
    const p = JSON.parse((evt as MessageEvent<string>).data) as PublishEvent
    if (p.topic === 'message') chat.received(p.package, p.detail as ChatEntryView)
  })
}

connect()
