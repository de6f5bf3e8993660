import '../daemon/polyfill.ts'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { after, before, describe, it, type TestContext } from 'node:test'
import type { Status } from '../daemon/daemon.ts'
import { eventually, knows } from './helpers.ts'

/**
 * The project's Dockerfile and docker-compose.yml, for real: three containers (fake, fake2,
 * fake3) built from this tree on a Docker engine started by `docker-engine` (see
 * ../shared/tools/docker-engine). Skipped, with the reason, where that cannot run.
 */

const REPO = fileURLToPath(new URL('../../', import.meta.url))
const COMPOSE_FILE = join(REPO, 'docker-compose.yml')
const PROJECT = `hwdtest${process.pid}`
const DRIVE = '/data/vfs/chat-with-file-transfer:template.os/files'
const DOWNLOAD = 'download:chat-with-file-transfer:template.os'
const SEND = 'send:chat-with-file-transfer:template.os'
const HISTORY = 'history:chat-with-file-transfer:template.os'
const SEARCH = 'search:chat-with-file-transfer:template.os'
const SERVICES = ['fake', 'fake2', 'fake3'] as const
type Service = typeof SERVICES[number]
const NAME: Record<Service, string> = { fake: 'fake.dev', fake2: 'fake2.dev', fake3: 'fake3.dev' }

function findEngine (): { tool?: string, why?: string } {
  const fromEnv = process.env.HWD_DOCKER_ENGINE
  if (fromEnv != null && fromEnv !== '') {
    return existsSync(fromEnv) ? { tool: fromEnv } : { why: `HWD_DOCKER_ENGINE=${fromEnv} does not exist` }
  }
  const candidates = [join(REPO, '..', 'shared', 'tools', 'docker-engine'), '/work/shared/tools/docker-engine']
  const tool = candidates.find(p => existsSync(p))
  return tool != null ? { tool } : { why: `no docker-engine tool: set HWD_DOCKER_ENGINE, or put it at ${candidates.join(' or ')}` }
}

const engine = findEngine()
const cannotRun = process.getuid?.() !== 0
  ? 'needs root: docker-engine runs dockerd'
  : engine.why

interface Result { code: number | null, stdout: string, stderr: string, ms: number }

let dockerHost: string | undefined
/** The image the Dockerfile builds from, if not node:20-slim (see `baseImage`) */
let base: string | undefined
/** Set when the engine would not start: every test then skips with this reason. */
let engineTrouble: string | undefined
let startedEngine = false
let failed = false
const timings: string[] = []

async function exec (command: string, args: string[], timeoutMs: number): Promise<Result> {
  const started = Date.now()
  const env = { ...process.env, ...(dockerHost != null ? { DOCKER_HOST: dockerHost } : {}), ...(base != null ? { HWD_BASE_IMAGE: base } : {}) }
  const child = spawn(command, args, { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const timer = setTimeout(() => { stderr += `\n(killed after ${timeoutMs} ms)`; child.kill('SIGKILL') }, timeoutMs)
  const code = await new Promise<number | null>(resolve => {
    child.on('error', err => { stderr += String(err); resolve(null) })
    child.on('close', resolve)
  })
  clearTimeout(timer)
  return { code, stdout, stderr, ms: Date.now() - started }
}

async function compose (args: string[], timeoutMs = 60_000): Promise<Result> {
  return await exec('docker-compose', ['-f', COMPOSE_FILE, '-p', PROJECT, ...args], timeoutMs)
}

/** Run a command inside a service's container, without a terminal. */
async function inside (service: Service, args: string[], timeoutMs = 60_000): Promise<Result> {
  return await compose(['exec', '-T', service, ...args], timeoutMs)
}

function ok (r: Result, what: string): Result {
  assert.equal(r.code, 0, `${what} exited ${r.code}:\n${r.stdout}\n${r.stderr}`)
  return r
}

async function status (service: Service): Promise<Status> {
  const r = await inside(service, ['hwd', 'status', '--json'], 30_000)
  if (r.code !== 0) throw new Error(`${service}: hwd status exited ${r.code}: ${r.stderr.trim()}`)
  return JSON.parse(r.stdout) as Status
}

/** Wait until `service` knows the node called `name`: a step that talks to it needs no earlier step. */
async function untilKnown (service: Service, name: string): Promise<void> {
  await eventually(`${service} to know ${name}`, async () => (await status(service)).names.some(n => n.name === name), 90_000)
}

async function sha256 (service: Service, path: string): Promise<string> {
  const r = ok(await inside(service, ['sha256sum', path]), `sha256sum in ${service}`)
  return r.stdout.split(/\s/)[0]
}

function timed (what: string, ms: number): void {
  timings.push(`${what}: ${(ms / 1000).toFixed(1)} s`)
}

/** A test that skips when the engine would not start, and marks the run failed for `after`. */
function step (name: string, fn: (t: TestContext) => Promise<void>, timeout = 180_000): void {
  it(name, { timeout }, async t => {
    if (engineTrouble != null) { t.skip(engineTrouble); return }
    const started = Date.now()
    try {
      await fn(t)
    } catch (err) {
      failed = true
      throw err
    } finally {
      timed(name, Date.now() - started)
    }
  })
}

/**
 * The base to build from. node:20-slim holds Node's headers beside its node binary, which the
 * build stage compiles better-sqlite3 against; docker-engine's local stand-in for it holds this
 * machine's node binary without them. Then they are added from this machine's Node, in an image
 * of their own: `hwd-base-with-headers`.
 */
async function baseImage (): Promise<string | undefined> {
  const probe = ok(await exec('docker', ['run', '--rm', '--entrypoint', 'sh', 'node:20-slim', '-c',
    'p=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")"); echo "$p"; node --version; if test -f "$p/include/node/node.h"; then echo headers; fi'], 60_000), 'looking into node:20-slim')
  const [prefix, version, headers] = probe.stdout.trim().split('\n')
  if (headers === 'headers') return undefined
  assert.equal(version, process.version, 'node:20-slim lacks Node\'s headers, and ours are of another version')
  const dir = await mkdtemp(join(tmpdir(), 'hwd-base-'))
  try {
    await writeFile(join(dir, 'Dockerfile'), `FROM node:20-slim\nCOPY . ${prefix}/include/node\n`)
    const ours = join(dirname(dirname(process.execPath)), 'include', 'node')
    ok(await exec('docker', ['build', '-q', '-t', 'hwd-base-with-headers', '-f', join(dir, 'Dockerfile'), ours], 300_000), 'adding Node\'s headers')
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  return 'hwd-base-with-headers'
}

describe('docker compose: fake, fake2 and fake3 in containers', { skip: cannotRun, timeout: 600_000 }, () => {
  before(async () => {
    const tool = engine.tool!
    startedEngine = (await exec(tool, ['status'], 30_000)).code !== 0
    const start = await exec(tool, ['start'], 360_000)
    timed(`docker-engine start (${startedEngine ? 'started it' : 'already running'})`, start.ms)
    const host = /export DOCKER_HOST=(\S+)/.exec(start.stdout)?.[1]
    if (start.code !== 0 || host == null) {
      engineTrouble = `${tool} start failed (exit ${start.code}): ${(start.stderr.trim() || start.stdout.trim() || 'no output').split('\n').slice(-3).join(' / ')}`
      return
    }
    dockerHost = host
    try {
      base = await baseImage()
      const up = await compose(['up', '-d', '--build'], 480_000)
      timed('docker-compose up -d --build', up.ms)
      ok(up, 'docker-compose up -d --build')
    } catch (err) {
      failed = true
      throw err
    }
  }, { timeout: 540_000 })

  after(async () => {
    try {
      if (dockerHost == null) return
      if (failed) {
        const logs = await compose(['logs', '--no-color', '--tail', '60'])
        console.error(`--- docker-compose logs (${PROJECT}) ---\n${logs.stdout}${logs.stderr}`)
      }
      const down = await compose(['down', '-v', '--remove-orphans', '-t', '5'], 180_000)
      timed('docker-compose down -v', down.ms)
      ok(down, 'docker-compose down -v --remove-orphans')
      const label = `label=com.docker.compose.project=${PROJECT}`
      const left = await Promise.all([
        exec('docker', ['ps', '-aq', '--filter', label], 30_000),
        exec('docker', ['network', 'ls', '-q', '--filter', label], 30_000),
        exec('docker', ['volume', 'ls', '-q', '--filter', label], 30_000)
      ])
      const leftovers = left.map(r => r.stdout.trim()).filter(s => s !== '')
      assert.deepEqual(leftovers, [], `${PROJECT} left containers, networks or volumes behind`)
    } finally {
      if (startedEngine) {
        const stop = await exec(engine.tool!, ['stop'], 60_000)
        timed('docker-engine stop', stop.ms)
        // after a start that failed, a stop that fails too is no news
        if (engineTrouble == null) assert.equal(stop.code, 0, `docker-engine stop: ${stop.stderr}`)
      }
      console.error(`compose test timings (${PROJECT}):\n  ${timings.join('\n  ')}`)
    }
  }, { timeout: 300_000 })

  step('each node answers hwd status, and they learn each other\'s names', async t => {
    const peerIds = new Map<Service, string>()
    for (const service of SERVICES) {
      const s = await eventually(`${service} to answer hwd status`, async () => await status(service), 120_000)
      assert.equal(s.name, NAME[service])
      assert.equal(s.home, '/data')
      peerIds.set(service, s.peerId)
    }
    const s = await eventually('fake.dev to know fake2.dev and fake3.dev', async () => {
      const s = await status('fake')
      return knows(s, 'fake2.dev', peerIds.get('fake2')!) && knows(s, 'fake3.dev', peerIds.get('fake3')!) && s
    }, 90_000)
    t.diagnostic(`fake.dev peers: ${s.peers.map(p => `${p.name ?? '?'} ${p.addresses.join(' ')}`).join('; ')}`)
  })

  step('publishes each node\'s web page on the host\'s loopback, at the address it prints', async () => {
    for (const [service, port] of [['fake', 9080], ['fake2', 9081], ['fake3', 9082]] as const) {
      const address = new URL((await eventually(`${service}'s status`, async () => await status(service), 120_000)).web!)
      assert.equal(address.host, `127.0.0.1:${port}`)
      assert.equal((await fetch(new URL('/', address))).status, 401, 'no key, no page')
      const login = await fetch(address, { redirect: 'manual' })
      assert.equal(login.status, 303)
      const cookie = login.headers.get('set-cookie')!.split(';')[0]
      const page = await fetch(new URL('/api/state', address), { headers: { cookie } })
      assert.equal(page.status, 200)
      assert.equal(((await page.json()) as { name: string }).name, NAME[service])
    }
  })

  step('downloads a 3 MB file from fake2\'s drive into fake\'s, byte for byte', async () => {
    await untilKnown('fake', 'fake2.dev')
    ok(await inside('fake2', ['sh', '-c', `head -c 3000000 /dev/urandom > '${DRIVE}/x.bin'`]), 'writing x.bin in fake2')
    const got = ok(await inside('fake', ['hwd', 'run', DOWNLOAD, 'x.bin', 'fake2.dev'], 120_000), 'download')
    assert.match(got.stdout, /^downloaded x\.bin from fake2\.dev: /m)
    const [theirs, ours] = await Promise.all([sha256('fake2', `${DRIVE}/x.bin`), sha256('fake', `${DRIVE}/x.bin`)])
    assert.match(theirs, /^[0-9a-f]{64}$/)
    assert.equal(ours, theirs)
    const size = ok(await inside('fake', ['stat', '-c', '%s', `${DRIVE}/x.bin`]), 'stat')
    assert.equal(size.stdout.trim(), '3000000')
  })

  step('sends a chat from fake to fake3, printed in fake3\'s log', async () => {
    await untilKnown('fake', 'fake3.dev')
    const text = `hello from ${PROJECT}, ${Date.now()}`
    const sent = ok(await inside('fake', ['hwd', 'run', SEND, 'fake3.dev', ...text.split(' ')]), 'send')
    assert.match(sent.stdout, /^delivered to fake3\.dev /m)
    const line = new RegExp(`\\|\\s?fake\\.dev: ${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`, 'm')
    await eventually('the message in fake3\'s log', async () => line.test((await compose(['logs', '--no-color', 'fake3'])).stdout), 60_000)
    // and in its history, a database built in the image (better-sqlite3, a native addon)
    const history = ok(await inside('fake3', ['hwd', 'run', HISTORY, 'fake.dev', '--last', '1']), 'history')
    assert.match(history.stdout, new RegExp(`^\\S+ fake\\.dev: ${text}\n$`))
    const found = ok(await inside('fake3', ['hwd', 'run', SEARCH, PROJECT]), 'search')
    assert.match(found.stdout, new RegExp(`^\\S+ fake\\.dev: ${text}\n$`))
  })

  step('a send to a stopped fake3 fails within seconds; restarted, fake3 keeps its peer id', async t => {
    await untilKnown('fake', 'fake3.dev')
    const first = await eventually('fake3 to answer hwd status', async () => await status('fake3'), 120_000)
    ok(await compose(['stop', '-t', '10', 'fake3'], 60_000), 'docker-compose stop fake3')
    // Timed inside the container, so docker-compose's own start-up is not counted.
    const script = 's=$(date +%s%N); hwd run --home /data "$@"; c=$?; e=$(date +%s%N); echo "hwd-ms=$(( (e - s) / 1000000 ))"; exit $c'
    const offline = await inside('fake', ['sh', '-c', script, 'sh', SEND, 'fake3.dev', 'are', 'you', 'there?'])
    assert.notEqual(offline.code, 0, `a send to a stopped node succeeded:\n${offline.stdout}`)
    assert.match(offline.stderr, /^hwd: fake3\.dev is offline/m)
    const ms = Number(/hwd-ms=(\d+)/.exec(offline.stdout)?.[1])
    t.diagnostic(`the send failed after ${ms} ms (${offline.ms} ms with docker-compose exec)`)
    assert.ok(ms < 10_000, `the send took ${ms} ms to fail`)

    ok(await compose(['start', 'fake3'], 60_000), 'docker-compose start fake3')
    const again = await eventually('fake3 to answer hwd status again', async () => await status('fake3'), 120_000)
    assert.equal(again.peerId, first.peerId, 'the home volume kept fake3\'s key')
    await eventually('fake to reconnect to fake3', async () => (await status('fake')).peers.some(p => p.peerId === again.peerId), 60_000)
    const back = ok(await inside('fake', ['hwd', 'run', '--home', '/data', SEND, 'fake3.dev', 'welcome', 'back']), 'send after restart')
    assert.match(back.stdout, /^delivered to fake3\.dev /m)
  })
})
