import '../daemon/polyfill.ts'
/**
 * Web page benchmark: how long the page takes to show a peer's listing of 1,000 files, against
 * the terminal's `list-files:` of the same drive in the same run.
 *
 * fake2.dev offers 1,000 files in its file-transfer drive. Each round, alternating:
 *  - terminal: `list-files:file-transfer:template.os fake2.dev` on fake.dev through its control
 *    socket, as `hwd run` sends it, timed to the reply's end (the rows printed);
 *  - page: in chromium, a click on List in fake.dev's page, timed in the page to the frame after
 *    the 1,000th row is in the table (the same command, run by `POST /api/run`, then the rows made).
 * It prints each side's median and the ratio page/terminal, how much of the page's time its
 * request took (Resource Timing), and the page's first load (from the
 * address to the live page with its own drive of 1,000 files drawn) for scale.
 *
 * Run: npm run build && node dist/scripts/bench-web.js [--files N] [--rounds N]
 */
import { writeFile } from 'node:fs/promises'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import type { Page } from 'playwright-core'
import { request } from '../daemon/control-client.ts'
import { launchChromium, NO_CHROMIUM, openPage, webAddress } from '../test/browser.ts'
import { runInTempDir, wholeNumber } from './bench/cli.ts'
import { DRIVE, drivePath, SENDER, startPair, stopCleanly } from './bench/daemons.ts'
import { median } from './bench/stats.ts'

const LIST = `list-files:${DRIVE}`

async function terminalList (socket: string, home: string): Promise<number> {
  let rows = 0
  const started = performance.now()
  await request(socket, home, { op: 'run', argv: [LIST, SENDER] }, { line: () => { rows++ } })
  const ms = performance.now() - started
  if (rows < 2) throw new Error(`list-files printed ${rows} lines`)
  return ms
}

/** The whole time from the click to the rows drawn, and the part of it the command's request took. */
async function pageList (page: Page, files: number): Promise<{ ms: number, requestMs: number }> {
  await page.evaluate(() => { document.getElementById('listing')!.replaceChildren(); performance.clearResourceTimings() })
  // timed in the page, from the click to the frame after the last row: the driver's own round
  // trips and its checks before a click are not the page's
  const ms = await page.evaluate(async n => {
    const frame = async (): Promise<unknown> => await new Promise(resolve => requestAnimationFrame(resolve))
    const started = performance.now()
    document.querySelector<HTMLButtonElement>('#browse-form button[type=submit]')!.click()
    while (document.querySelectorAll('#listing tr').length !== n) await frame()
    await frame()
    return performance.now() - started
  }, files)
  const requestMs = await page.evaluate(() => performance.getEntriesByType('resource').filter(r => r.name.endsWith('/api/run')).at(-1)?.duration ?? NaN)
  return { ms, requestMs }
}

const code = await runInTempDir('bench-web', () => {
  const { values } = parseArgs({ options: { files: { type: 'string', default: '1000' }, rounds: { type: 'string', default: '15' } } })
  if (NO_CHROMIUM !== false) throw new Error(NO_CHROMIUM)
  return { files: wholeNumber('files', values.files), rounds: wholeNumber('rounds', values.rounds) }
}, async (dir, { files, rounds }) => {
  const { receiver, sender } = await startPair(dir)
  const names = Array.from({ length: files }, (_, i) => `file-${String(i).padStart(5, '0')}.txt`)
  for (const name of names) {
    await writeFile(await drivePath(sender.home, name), name)
    await writeFile(await drivePath(receiver.home, name), name)
  }
  const browser = await launchChromium()
  try {
    const loadStarted = performance.now()
    const page = await openPage(browser, receiver)
    await page.waitForFunction(({ pkg, n }) => document.querySelectorAll(`.drive[data-package="${pkg}"] tr`).length === n, { pkg: DRIVE, n: files })
    const loadMs = performance.now() - loadStarted
    await page.selectOption('#browse-peer', SENDER)
    await page.selectOption('#browse-drive', DRIVE)
    // warm-up: the connection, the command's first run, the browser's first layout of the table
    await terminalList(receiver.socket, receiver.home)
    await pageList(page, files)
    const terminal: number[] = []
    const shown: number[] = []
    const requests: number[] = []
    for (let i = 0; i < rounds; i++) {
      terminal.push(await terminalList(receiver.socket, receiver.home))
      const { ms, requestMs } = await pageList(page, files)
      shown.push(ms)
      requests.push(requestMs)
    }
    const t = median(terminal)
    const p = median(shown)
    const r = median(requests)
    console.log(`listing of ${files} files from ${SENDER}, ${rounds} rounds, medians (${webAddress(receiver).origin}):`)
    console.log(`  terminal list-files (control socket)  ${t.toFixed(1)} ms`)
    console.log(`  page: click List → rows drawn        ${p.toFixed(1)} ms   ratio page/terminal ${(p / t).toFixed(2)}`)
    console.log(`    of which POST /api/run (the command) ${r.toFixed(1)} ms, the rest making and drawing the rows`)
    console.log(`  page first load with its own drive of ${files} files drawn: ${loadMs.toFixed(0)} ms`)
    await page.close()
  } finally {
    await browser.close()
    await stopCleanly(sender)
    await stopCleanly(receiver)
  }
})
process.exit(code)
