/**
 * The browser the web page's tests and benchmark drive: Debian's chromium (`apt-get install
 * chromium`; .ci/run installs it), through playwright-core, which downloads nothing. The flags
 * keep it from reaching anywhere but the pages it is sent to.
 */
import { existsSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'
import type { TestNode } from './helpers.ts'

export const CHROMIUM = '/usr/bin/chromium'

/** Why the browser tests skip here, or false where they run. */
export const NO_CHROMIUM = !existsSync(CHROMIUM) && `needs ${CHROMIUM} (apt-get install chromium)`

export async function launchChromium (): Promise<Browser> {
  return await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']
  })
}

/** The node's web page address, key included, as it printed it at start. */
export function webAddress (node: TestNode): URL {
  return new URL(/^web\s+(\S+)/m.exec(node.output)![1])
}

/** A new page of `browser` logged in to `node`'s web page, once its live updates flow. */
export async function openPage (browser: Browser, node: TestNode, viewport = { width: 1200, height: 900 }): Promise<Page> {
  const context = await browser.newContext({ viewport })
  const page = await context.newPage()
  // a page of its own context, which goes with it (or with the browser, already closing it)
  page.once('close', () => { context.close().catch(() => {}) })
  await page.goto(webAddress(node).href)
  await page.locator('#live.on').waitFor()
  return page
}
