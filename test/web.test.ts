/**
 * The node's web page in a real browser (Debian's chromium, driven by playwright-core), against
 * two real daemons. Each state the tests reach is saved as a screenshot in test-output/web/.
 */
import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { createServer, request, type Server } from 'node:http'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it, mock } from 'node:test'
import type { Browser, Page } from 'playwright-core'
import { launchChromium, NO_CHROMIUM, openPage, webAddress } from './browser.ts'
import { Drive, isPartial } from '../storage/vfs.ts'
import { Live } from '../daemon/web/live.ts'
import { MAX_REQUEST_BYTES } from '../daemon/control.ts'
import type { PageState } from '../web/api.ts'
import { CHAT_PKG, drive, hwd, pair, stopAll, tempHome, TestNode } from './helpers.ts'

const SHOTS = fileURLToPath(new URL('../../test-output/web/', import.meta.url))
const PHONE = { width: 390, height: 844 }
const HOSTILE = '<img src=x onerror="window.pwned=1">'

/** A raw request, with the headers a browser would not let a page set (Host). */
async function raw (url: URL, options: { method?: string, headers?: Record<string, string>, body?: string }): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers }, res => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => { resolve({ status: res.statusCode!, body }) })
    })
    req.on('error', reject)
    req.end(options.body)
  })
}

describe('web page', { skip: NO_CHROMIUM }, () => {
  let browser: Browser
  let a: TestNode
  let b: TestNode
  let pageA: Page
  let pageB: Page
  const pageErrors: string[] = []

  async function shot (page: Page, name: string): Promise<void> {
    await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
  }

  async function open (node: TestNode, viewport?: { width: number, height: number }): Promise<Page> {
    const page = await openPage(browser, node, viewport)
    page.on('pageerror', err => { pageErrors.push(`${node.name}'s page threw: ${err.message}`) })
    return page
  }

  before(async () => {
    await rm(SHOTS, { recursive: true, force: true })
    await mkdir(SHOTS, { recursive: true })
    browser = await launchChromium()
    ;[a, b] = await pair()
    pageA = await open(a)
    pageB = await open(b)
  })

  after(async () => {
    assert.deepEqual(pageErrors, [])
    await browser?.close()
    await stopAll()
  })

  it('loads with the key and refuses without it, a foreign Host and a cross-origin POST', async () => {
    const address = webAddress(a)
    const base = new URL('/', address)
    assert.equal((await raw(base, {})).status, 401)
    assert.equal((await raw(new URL('/api/state', base), {})).status, 401)
    const wrongKey = new URL(address)
    wrongKey.searchParams.set('key', 'x'.repeat(43))
    assert.equal((await raw(wrongKey, {})).status, 401)
    // DNS rebinding: a name of an attacker's that resolves to 127.0.0.1
    assert.equal((await raw(address, { headers: { Host: `rebind.example:${address.port}` } })).status, 403)

    // the key in the address becomes a cookie, and leaves the address bar
    assert.equal(new URL(pageA.url()).search, '')
    assert.equal(await pageA.locator('#node-name').textContent(), 'fake.dev')
    assert.equal(await pageA.locator('#node-id').textContent(), a.peerId)
    const [cookie] = await pageA.context().cookies()
    assert.equal(cookie.httpOnly, true)
    assert.equal(cookie.sameSite, 'Strict')
    await shot(pageA, '01-loaded')

    // with the cookie, from another origin: refused, and nothing runs
    const headers = { Cookie: `${cookie.name}=${cookie.value}`, 'Content-Type': 'application/json' }
    const body = JSON.stringify({ argv: ['send:' + CHAT_PKG, 'fake2.dev', 'forged'] })
    const post = new URL('/api/run', base)
    assert.equal((await raw(post, { method: 'POST', headers: { ...headers, Origin: 'http://evil.example' }, body })).status, 403)
    assert.equal((await raw(post, { method: 'POST', headers, body })).status, 403, 'no Origin at all')

    // the same from a real page on another origin, which the browser sends the cookie from
    const evil = await evilSite(post.href, body)
    try {
      const page = await pageA.context().newPage()
      await page.goto(evil.url)
      assert.equal(await page.evaluate(async () => await (window as any).attempt), 'sent')
      await page.close()
    } finally {
      evil.server.close()
    }
    const history = await a.run('history:' + CHAT_PKG, 'fake2.dev')
    assert.doesNotMatch(history.stdout, /forged/)

    // from the page's own origin, a request too long for the control socket is told as such
    const long = JSON.stringify({ argv: ['send:' + CHAT_PKG, 'fake2.dev', 'x'.repeat(MAX_REQUEST_BYTES)] })
    const tooLong = await raw(post, { method: 'POST', headers: { ...headers, Origin: base.origin }, body: long })
    assert.equal(tooLong.status, 413)
    assert.deepEqual(JSON.parse(tooLong.body), { error: `request longer than ${MAX_REQUEST_BYTES} bytes` })
  })

  it('shows fake2.dev among the peers, on a phone too', async () => {
    await pageA.locator('#peer-list .peer', { hasText: 'fake2.dev' }).waitFor()
    assert.match(await pageA.locator('#peer-list').textContent() ?? '', new RegExp(`${b.peerId}direct/ip4/127\\.0\\.0\\.1/tcp/\\d+`))
    await shot(pageA, '02-peers')
    const phone = await open(a, PHONE)
    await phone.locator('#peer-list .peer', { hasText: 'fake2.dev' }).waitFor()
    await shot(phone, '02-peers-phone')
    await phone.close()
  })

  it('downloads a file from fake2.dev\'s listing, with progress to 100%, byte for byte', async () => {
    const content = randomBytes(48 * 1024 * 1024)
    await writeFile(join(drive(b), 'big.bin'), content)
    await writeFile(join(drive(b), 'hello.txt'), 'hello world\n')
    await pageA.selectOption('#browse-peer', 'fake2.dev')
    await pageA.selectOption('#browse-drive', CHAT_PKG)
    await pageA.click('#browse-form button[type=submit]')
    const row = pageA.locator('#listing tr', { hasText: 'big.bin' })
    await row.waitFor()
    assert.match(await row.textContent() ?? '', /48\.0 MiB/)
    await shot(pageA, '03-listing')
    await row.getByRole('button', { name: 'Download' }).click()
    const done = pageA.locator('.transfer.done', { hasText: 'big.bin' })
    await done.waitFor({ timeout: 60_000 })
    assert.match(await done.locator('.figures').textContent() ?? '', /^100% · 48\.0 MiB of 48\.0 MiB · done$/)
    assert.ok(content.equals(await readFile(join(drive(a), 'big.bin'))), 'the file arrived byte for byte')
    // and fake2.dev's page saw it go
    const sent = pageB.locator('.transfer.done', { hasText: 'big.bin' })
    await sent.waitFor()
    assert.match(await sent.locator('.figures').textContent() ?? '', /^100% · 48\.0 MiB of 48\.0 MiB · sent$/)
    await shot(pageB, '04-sent')
    // the drive's listing follows by itself
    await pageA.locator(`.drive[data-package="${CHAT_PKG}"] td.name`, { hasText: 'big.bin' }).waitFor()
    await shot(pageA, '04-downloaded')
  })

  it('cancels a running download from its button, keeping nothing of it', async () => {
    const huge = join(drive(b), 'huge.bin')
    await writeFile(huge, '')
    await truncate(huge, 2 * 1024 ** 3) // sparse: quick to make, slow enough to move
    await pageA.click('#browse-form button[type=submit]')
    await pageA.locator('#listing tr', { hasText: 'huge.bin' }).getByRole('button', { name: 'Download' }).click()
    const row = pageA.locator('.transfer', { hasText: 'huge.bin' })
    await row.locator('.figures', { hasText: /^\d+% · .* · [\d.]+ MB\/s, \d+:\d\d left$/ }).waitFor()
    await shot(pageA, '04-running')
    await row.getByRole('button', { name: 'Cancel' }).click()
    await pageA.locator('.transfer.cancelled', { hasText: 'huge.bin' }).waitFor()
    assert.match(await row.locator('.figures').textContent() ?? '', / · cancelled$/)
    await pageA.locator('#notice.error', { hasText: 'huge.bin: cancelled' }).waitFor()
    await shot(pageA, '04-cancelled')
    assert.deepEqual((await readdir(drive(a))).filter(f => f.startsWith('.hwd-partial-') || f === 'huge.bin'), [])
  })

  it('sends a chat message that fake2.dev\'s terminal prints and its page shows without a reload', async () => {
    await pageB.selectOption('#chat-peer', 'fake.dev')
    await pageA.selectOption('#chat-peer', 'fake2.dev')
    await pageA.fill('#chat-text', 'hello from the page')
    await pageA.click('#chat-form button[type=submit]')
    await b.waitForOutput(/^fake\.dev: hello from the page$/m)
    await pageB.locator('#messages .message.in', { hasText: 'hello from the page' }).waitFor()
    await pageA.locator('#messages .message.out', { hasText: 'hello from the page' }).waitFor()
    await shot(pageA, '05-chat-sent')
    await shot(pageB, '05-chat-received')
  })

  it('saves a file dropped onto the drive, and refuses a name no drive takes', async () => {
    const drop = async (name: string, text: string): Promise<void> => {
      await pageA.evaluate(({ pkg, name, text }) => {
        const data = new DataTransfer()
        data.items.add(new File([text], name))
        document.querySelector(`.drive[data-package="${pkg}"]`)!
          .dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }))
      }, { pkg: CHAT_PKG, name, text })
    }
    await drop('dropped.txt', 'dropped on the page\n')
    await pageA.locator('#notice', { hasText: 'saved dropped.txt' }).waitFor()
    assert.equal(await readFile(join(drive(a), 'dropped.txt'), 'utf8'), 'dropped on the page\n')
    await pageA.locator(`.drive[data-package="${CHAT_PKG}"] td.name`, { hasText: 'dropped.txt' }).waitFor()
    await shot(pageA, '06-dropped')

    await drop('dropped.txt', 'another')
    await pageA.locator('#notice.error', { hasText: 'already has a file "dropped.txt"' }).waitFor()
    assert.equal(await readFile(join(drive(a), 'dropped.txt'), 'utf8'), 'dropped on the page\n', 'never replaced')
    const cookie = (await pageA.context().cookies())[0]
    const tooLarge = await raw(new URL(`/api/drives/${encodeURIComponent(CHAT_PKG)}?name=big.iso`, webAddress(a)), {
      method: 'PUT',
      headers: { Cookie: `${cookie.name}=${cookie.value}`, Origin: webAddress(a).origin, 'Content-Length': String(5 * 1024 ** 3) }
    })
    assert.equal(tooLarge.status, 413, tooLarge.body)
    await drop('..', 'escape')
    await pageA.locator('#notice.error', { hasText: 'invalid file name ".."' }).waitFor()
    await shot(pageA, '07-drop-refused')
    assert.deepEqual((await readdir(drive(a))).filter(isPartial), [], 'nothing left of the refused uploads')
  })

  it('shows a hostile file name and chat text from a peer as text', async () => {
    const name = `${HOSTILE}.txt`
    await writeFile(join(drive(b), name), 'x')
    const text = `${HOSTILE} \u001b[2J\nfake.dev: forged line`
    const sent = await b.run('send:' + CHAT_PKG, 'fake.dev', text)
    assert.equal(sent.code, 0, sent.stderr)
    const message = pageA.locator('#messages .message.in', { hasText: 'forged line' })
    await message.waitFor()
    assert.equal(await message.locator('p').textContent(), `${HOSTILE} \\u001b[2J\\u000afake.dev: forged line`)

    await pageA.click('#browse-form button[type=submit]')
    const cell = pageA.locator('#listing td.name', { hasText: 'onerror' })
    await cell.waitFor()
    assert.equal(await cell.textContent(), name)
    assert.equal(await pageA.locator('img').count(), 0, 'no element made from a peer\'s words')
    assert.equal(await pageA.evaluate(() => (window as any).pwned), undefined)
    await shot(pageA, '08-hostile')
    const phone = await open(a, PHONE)
    await phone.selectOption('#chat-peer', 'fake2.dev')
    await phone.locator('#messages .message', { hasText: 'forged line' }).waitFor()
    await shot(phone, '08-hostile-phone')
    await phone.close()
  })

  it('shows a download whose last step failed with its own error, as the terminal has it, not as done', async () => {
    await writeFile(join(drive(b), 'blocked.bin'), randomBytes(256 * 1024))
    // the final name is taken by a folder: every byte arrives and checks out, then the rename into place fails
    await mkdir(join(drive(a), 'blocked.bin'))
    const run = await a.run('download:' + CHAT_PKG, 'blocked.bin', 'fake2.dev')
    assert.equal(run.code, 1, run.stdout)
    const line = `blocked.bin: cannot be saved into ${CHAT_PKG} (EISDIR)`
    assert.equal(run.stderr, `hwd: ${line}\n`)
    const row = pageA.locator('.transfer.failed', { hasText: 'blocked.bin' })
    await row.waitFor()
    assert.match(await row.locator('.figures').textContent() ?? '', /^100% · 256\.0 KiB of 256\.0 KiB · failed$/)
    assert.equal(await row.locator('.reason').textContent(), line)
    assert.equal(await pageA.locator('.transfer.done', { hasText: 'blocked.bin' }).count(), 0)
    await shot(pageA, '09-failed-last-step')
  })

  it('shows the files of a package installed after start as they arrive, and its drive no more once uninstalled', async () => {
    const work = await tempHome('hwd-pkg-')
    assert.equal((await hwd(['new', 'photos', '--publisher', 'fake2.dev', '--dir', work])).code, 0)
    const published = await hwd(['publish', '--home', b.home, join(work, 'photos')])
    assert.equal(published.code, 0, published.stderr)
    const installed = await hwd(['install', '--home', a.home, 'photos:fake2.dev', '--yes'])
    assert.equal(installed.code, 0, installed.stderr)
    const photos = pageA.locator('.drive[data-package="photos:fake2.dev"]')
    await photos.waitFor()
    await writeFile(join(drive(a, 'photos:fake2.dev'), 'arrived.jpg'), 'a photo')
    await photos.locator('td.name', { hasText: 'arrived.jpg' }).waitFor()
    await shot(pageA, '10-installed-drive')
    const uninstalled = await hwd(['uninstall', '--home', a.home, 'photos:fake2.dev'])
    assert.equal(uninstalled.code, 0, uninstalled.stderr)
    await photos.waitFor({ state: 'detached' })
  })
})

describe('an upload into a drive', () => {
  after(stopAll)

  it('stops past its limit mid-stream and keeps nothing, not even under a hidden name', async () => {
    const d = await Drive.open(await tempHome(), CHAT_PKG)
    async function * chunks (): AsyncGenerator<Uint8Array> { for (let i = 0; i < 5; i++) yield new Uint8Array(1000) }
    await assert.rejects(d.receive('five.bin', chunks(), 4500), { name: 'TooLargeError' })
    assert.deepEqual(await readdir(d.root), [])
    assert.equal(await d.receive('five.bin', chunks(), 5000), 5000)
    assert.deepEqual(await readdir(d.root), ['five.bin'])
  })
})

describe('the page\'s live state', () => {
  it('is computed one at a time, and once more after it for all the changes that came meanwhile', async () => {
    let calls = 0
    let inFlight = 0
    let most = 0
    let called = Promise.withResolvers<void>()
    let release = (): void => {}
    const live = new Live({
      state: async () => {
        calls++
        most = Math.max(most, ++inFlight)
        called.resolve()
        // a slow state (many drives, many partial downloads); the page's first one comes at once
        if (calls > 1) await new Promise<void>(resolve => { release = resolve })
        inFlight--
        return { name: `state ${calls}` } as unknown as PageState
      },
      transfers: () => ({ running: [], ended: [] }),
      folders: () => []
    })
    const server = createServer((_req, res) => { void live.open(res) })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    live.start()
    // the settling wait, on a clock of the test's: changes come as long after each other as it says
    mock.timers.enable({ apis: ['setTimeout'] })
    const settled = (): void => { mock.timers.tick(1000) }
    try {
      const states = await eventStream(`http://127.0.0.1:${(server.address() as { port: number }).port}/`, 'state')
      assert.equal((await states.next()).name, 'state 1')
      called = Promise.withResolvers()
      live.changed()
      settled()
      await called.promise
      called = Promise.withResolvers()
      for (let i = 0; i < 10; i++) { live.changed(); settled() }
      assert.equal(calls, 2, 'none started while one is computed')
      release()
      assert.equal((await states.next()).name, 'state 2')
      settled()
      await called.promise
      release()
      assert.equal((await states.next()).name, 'state 3')
      assert.equal(calls, 3, 'the ten changes made one state')
      assert.equal(most, 1, 'never two at once')
    } finally {
      mock.timers.reset()
      live.stop()
      server.close()
      server.closeAllConnections()
    }
  })
})

describe('web page options', () => {
  after(stopAll)

  it('shows the page\'s address in hwd status, none with --no-http, and refuses a busy port in one line', async () => {
    const node = await TestNode.start({ name: 'fake.dev' })
    const address = webAddress(node)
    assert.equal(address.hostname, '127.0.0.1')
    const text = await hwd(['status', '--home', node.home])
    assert.ok(text.stdout.includes(`web        ${address.href}`), text.stdout)
    assert.equal((await node.status()).web, address.href)
    const none = await TestNode.start({ name: 'fake2.dev', extra: ['--no-http'] })
    assert.doesNotMatch(none.output, /^web/m)
    assert.match((await hwd(['status', '--home', none.home])).stdout, /^web\s+none \(started with --no-http\)$/m)
    const busy = await hwd(['start', '--home', await tempHome(), '--port', '0', '--no-mdns', '--http', address.port], { timeoutMs: 15_000 })
    assert.equal(busy.code, 1)
    assert.equal(busy.stderr, `hwd: web page port ${address.port} on 127.0.0.1 is already in use; choose another with --http PORT, or --no-http\n`)
  })
})

/** A page on another origin (another port of 127.0.0.1) that posts to the node's page. */
async function evilSite (target: string, body: string): Promise<{ server: Server, url: string }> {
  const script = `window.attempt = fetch(${JSON.stringify(target)}, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'Content-Type': 'text/plain' }, body: ${JSON.stringify(body)} }).then(() => 'sent', () => 'failed')`
  const server = createServer((req, res) => {
    if (req.url === '/evil.js') res.writeHead(200, { 'Content-Type': 'text/javascript' }).end(script)
    else res.writeHead(200, { 'Content-Type': 'text/html' }).end('<script src="/evil.js"></script>')
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return { server, url: `http://127.0.0.1:${port}/` }
}

/** The `event`s of a server-sent event stream, in order, each's data parsed. */
async function eventStream (url: string, event: string): Promise<{ next: () => Promise<any> }> {
  const queue: any[] = []
  let waiting: ((value: any) => void) | undefined
  await new Promise<void>((resolve, reject) => {
    request(url, res => {
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => {
        text += d
        let end: number
        while ((end = text.indexOf('\n\n')) >= 0) {
          const [head, data] = text.slice(0, end).split('\n')
          text = text.slice(end + 2)
          if (head !== `event: ${event}`) continue
          const value = JSON.parse(data.slice('data: '.length))
          if (waiting != null) { waiting(value); waiting = undefined } else queue.push(value)
        }
      })
      resolve()
    }).on('error', reject).end()
  })
  return { next: async () => queue.length > 0 ? queue.shift() : await new Promise(resolve => { waiting = resolve }) }
}
