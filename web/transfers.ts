/**
 * The transfers list: each running transfer with a bar, percent, MB/s and time left (the
 * terminal's own `RateMeter`), and a cancel button. A transfer leaves the node's table when it
 * ends; its row stays, marked by how it ended when the page started it, else as ended.
 */
import { formatBytes } from '../daemon/format.ts'
import { RateMeter } from '../daemon/rate.ts'
import type { JobView, TransferView } from './api.ts'
import { button, byId, el } from './dom.ts'

/** Finished rows kept on the page, newest first. */
const KEEP_FINISHED = 20

interface Row {
  view: JobView & Partial<TransferView>
  meter: RateMeter
  li: HTMLLIElement
  bar: HTMLProgressElement
  figures: HTMLSpanElement
  cancel: HTMLButtonElement
  /** undefined while running */
  outcome?: string
}

export class Transfers {
  private readonly rows = new Map<string, Row>()

  constructor (private readonly cancel: (id: string) => void) {}

  /** The node's running transfers, as `transfers` lists them. */
  update (list: TransferView[]): void {
    const now = new Set(list.map(t => t.id))
    for (const t of list) this.set(t)
    for (const [id, row] of this.rows) if (row.outcome == null && !now.has(id)) this.finish(id, 'ended')
  }

  /** A job the page ran has ended: `done`, or the reason it failed. */
  finish (id: string, outcome: string, last?: JobView): void {
    if (last != null) this.set(last)
    const row = this.rows.get(id)
    if (row == null) return
    if (outcome === 'done' && row.view.total != null) row.view.done = row.view.total
    row.outcome = outcome
    this.draw(row)
    this.trim()
  }

  private set (view: JobView & Partial<TransferView>): void {
    let row = this.rows.get(view.id)
    if (row == null) {
      const bar = el('progress', { max: '1', value: '0' })
      const figures = el('span', { class: 'figures' })
      const cancel = button('Cancel', () => { this.cancel(view.id) }, 'small')
      const li = el('li', { class: 'transfer', 'data-id': view.id })
      row = { view: { ...view }, meter: new RateMeter(), li, bar, figures, cancel }
      this.rows.set(view.id, row)
      byId('transfer-list').prepend(li)
    } else if (row.outcome != null && row.outcome !== 'ended') {
      return // the page knows how it ended
    } else {
      row.view = { ...row.view, ...view }
      row.outcome = undefined
    }
    row.meter.update(view.done)
    this.draw(row)
  }

  private draw (row: Row): void {
    const { view, meter, bar, figures } = row
    const total = view.total
    const percent = total == null ? undefined : Math.floor(view.done * 100 / Math.max(total, 1))
    bar.max = Math.max(total ?? 1, 1)
    bar.value = total == null ? 0 : view.done
    const speed = row.outcome == null ? meter.describe(total) : ''
    figures.textContent = [
      percent == null ? 'connecting' : `${percent}%`,
      `${formatBytes(view.done)}${total == null ? '' : ` of ${formatBytes(total)}`}`,
      speed,
      row.outcome ?? ''
    ].filter(s => s !== '').join(' · ')
    const direction = view.direction == null ? '' : `${view.direction === 'download' ? 'from' : 'to'} ${view.peer ?? ''}`
    row.li.className = `transfer ${stateOf(row.outcome)}`
    row.li.replaceChildren(
      el('div', { class: 'row' }, el('strong', { class: 'name' }, view.label), el('span', { class: 'quiet' }, direction), row.outcome == null ? row.cancel : undefined),
      bar, figures)
    byId('no-transfers').hidden = this.rows.size > 0
  }

  private trim (): void {
    const finished = [...this.rows.values()].filter(r => r.outcome != null)
    for (const row of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED))) {
      row.li.remove()
      this.rows.delete(row.view.id)
    }
  }
}

/** The row's look: running, done, failed (the page saw why), or ended (started elsewhere, it left the table). */
function stateOf (outcome: string | undefined): string {
  if (outcome == null) return 'running'
  if (outcome === 'done' || outcome === 'ended') return outcome
  return 'failed'
}
