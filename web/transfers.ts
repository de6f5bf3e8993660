/**
 * The transfers list: each running transfer with a bar, percent, MB/s and time left (the
 * terminal's own `RateMeter`) and a cancel button; the last ones that ended, with how each did.
 */
import { formatBytes } from '../daemon/format.ts'
import { RateMeter } from '../daemon/rate.ts'
import type { TransfersEvent, TransferView } from './api.ts'
import { button, byId, el } from './dom.ts'

/** Rows kept on the page for transfers that ended, newest first. */
const KEEP_ENDED = 20

interface Row {
  /** the transfer as last told; once it failed, with why (its worker's one line, as the terminal has it) */
  view: TransferView & { error?: string }
  meter: RateMeter
  li: HTMLLIElement
  bar: HTMLProgressElement
  figures: HTMLSpanElement
  cancel: HTMLButtonElement
  /** how it ended (`done`, `sent`, `cancelled`, `failed`); undefined while running */
  outcome?: string
}

export class Transfers {
  private readonly rows = new Map<string, Row>()

  constructor (private readonly cancel: (id: string) => void) {}

  update ({ running, ended }: TransfersEvent): void {
    for (const t of running) this.set(t)
    for (const t of ended) {
      const row = this.rows.get(t.id) ?? this.set(t)
      if (row.outcome != null) continue
      row.view = { ...row.view, ...t }
      row.outcome = t.outcome
      this.draw(row)
    }
    this.trim()
  }

  private set (view: TransferView): Row {
    let row = this.rows.get(view.id)
    if (row == null) {
      const bar = el('progress', { max: '1', value: '0' })
      const figures = el('span', { class: 'figures' })
      const cancel = button('Cancel', () => { this.cancel(view.id) }, 'small')
      const li = el('li', { class: 'transfer', 'data-id': view.id })
      row = { view: { ...view }, meter: new RateMeter(), li, bar, figures, cancel }
      this.rows.set(view.id, row)
      byId('transfer-list').prepend(li)
    } else {
      row.view = { ...row.view, ...view }
    }
    row.meter.update(view.done)
    this.draw(row)
    return row
  }

  private draw (row: Row): void {
    const { view, meter, bar, figures } = row
    const total = view.total
    const percent = total == null ? undefined : Math.floor(view.done * 100 / Math.max(total, 1))
    bar.max = Math.max(total ?? 1, 1)
    bar.value = total == null ? 0 : view.done
    figures.textContent = [
      percent == null ? 'connecting' : `${percent}%`,
      `${formatBytes(view.done)}${total == null ? '' : ` of ${formatBytes(total)}`}`,
      row.outcome == null ? meter.describe(total) : row.outcome
    ].filter(s => s !== '').join(' · ')
    row.li.className = `transfer ${stateOf(row.outcome)}`
    row.li.replaceChildren(
      el('div', { class: 'row' },
        el('strong', { class: 'name' }, view.label),
        el('span', { class: 'quiet' }, `${view.direction === 'download' ? 'from' : 'to'} ${view.peer}`),
        row.outcome == null ? row.cancel : undefined),
      bar, figures)
    if (row.outcome === 'failed') row.li.append(el('p', { class: 'reason' }, row.view.error ?? ''))
    byId('no-transfers').hidden = this.rows.size > 0
  }

  private trim (): void {
    const ended = [...this.rows.values()].filter(r => r.outcome != null)
    for (const row of ended.slice(0, Math.max(0, ended.length - KEEP_ENDED))) {
      row.li.remove()
      this.rows.delete(row.view.id)
    }
  }
}

/** The row's look: running, done (a download saved, an upload sent), cancelled, or failed. */
function stateOf (outcome: string | undefined): string {
  if (outcome == null) return 'running'
  if (outcome === 'done' || outcome === 'sent') return 'done'
  if (outcome === 'cancelled') return 'cancelled'
  return 'failed'
}
