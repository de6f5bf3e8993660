/**
 * The page's only way to make elements. Every string becomes a text node: what a peer wrote
 * (file names, chat) is always text on the page, never markup, and its control characters are
 * shown escaped, as the terminal shows them.
 */
import { printable } from '../errors.ts'

type Child = Node | string | undefined

export function el<K extends keyof HTMLElementTagNameMap> (tag: K, attrs: Record<string, string> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v)
  for (const c of children) if (c != null) node.append(typeof c === 'string' ? text(c) : c)
  return node
}

/** A peer's words as a text node, control characters escaped. */
export function text (words: string): Text {
  return document.createTextNode(printable(words))
}

export function byId<T extends HTMLElement> (id: string): T {
  const node = document.getElementById(id)
  if (node == null) throw new Error(`the page has no #${id}`)
  return node as T
}

export function button (label: string, onClick: () => void, cls = ''): HTMLButtonElement {
  const b = el('button', { type: 'button', class: cls }, label)
  b.addEventListener('click', onClick)
  return b
}

/** Fill a select with `values`, keeping what was chosen if it is still there. */
export function options (select: HTMLSelectElement, values: Array<{ value: string, label: string }>): void {
  const chosen = select.value
  select.replaceChildren(...values.map(v => el('option', { value: v.value }, v.label)))
  if (values.some(v => v.value === chosen)) select.value = chosen
}

let noticeTimer: number | undefined

/** A one-line message at the top of the page: an error, or what just happened. */
export function notice (message: string, error = false): void {
  const p = byId<HTMLParagraphElement>('notice')
  p.replaceChildren(text(message))
  p.className = error ? 'error' : ''
  p.hidden = false
  clearTimeout(noticeTimer)
  noticeTimer = window.setTimeout(() => { p.hidden = true }, error ? 10_000 : 4_000)
}
