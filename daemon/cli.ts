#!/usr/bin/env -S node --heap-growing-percent=300
// Node's flags are on the line above, where `hwd` and the tests' daemons take them (NODE_OPTIONS
// refuses V8 flags). A daemon moving bulk data allocates fast and keeps little: let V8's old
// generation grow to four times what is live. See docs/performance.md#heap-growth.
import './polyfill.ts'
import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline/promises'
import { isIP } from 'node:net'
import { parseArgs, type ParseArgsConfig } from 'node:util'
import { describeError, printable, printableJson, UsageError } from '../errors.ts'
import { homePaths } from '../storage/home.ts'
import { request, type ClientHandlers } from './control-client.ts'
import type { Status } from './daemon.ts'
import { formatMinute, formatProgress, REACHED } from './format.ts'
import { ProgressView } from './progress-view.ts'
// `start` and `new` load what they need when they run: `hwd run` and `hwd status` only talk to
// the control socket, and loading libp2p for them cost every command about half a second.

/** The home when neither --home nor HWD_HOME names one: the recipe's. */
const DEFAULT_HOME = '/tmp/hyperware-fake-node'
const HOME = process.env.HWD_HOME != null && process.env.HWD_HOME !== '' ? process.env.HWD_HOME : DEFAULT_HOME
/** A node that has not stopped this long after SIGTERM is stuck; leave anyway. */
const STOP_DEADLINE_MS = 5_000

const HELP = `hwd: a peer-to-peer node daemon

usage:
  hwd start [--name NAME] [--port PORT] [--home DIR] [--host IP]
            [--peer ADDR]... [--announce MULTIADDR]... [--no-mdns] [--package DIR]... [--no-mirror]
            [--relay [--relay-reservations N] [--relay-reservations-per-ip N] [--relay-reservation-ttl SECONDS]
                     [--relay-duration SECONDS] [--relay-max-bytes BYTES]]
            [--allow NAME]...
            [--http PORT | --no-http] [--http-host IP]
  hwd run [--home DIR] COMMAND [ARGS...]     run one terminal command on a running node
  hwd status [--home DIR] [--json]           what a running node is doing
  hwd new NAME [--publisher P] [--dir DIR]   scaffold a package that imports file-transfer's worker API
  hwd packages [--home DIR]                  each package: what it holds, and whether it runs
  hwd publish [--home DIR] DIR               sign the package in DIR as this node and serve it
  hwd install [--home DIR] NAME:PUBLISHER [--from NODE] [--version V] [--yes]
                                             fetch a package from the network, check it, and load it
  hwd uninstall [--home DIR] NAME:PUBLISHER  stop an installed package and remove it (its drive stays)

start options:
  -f, --name NAME         the node's name (default fake.dev)
  -p, --port PORT         TCP port peers dial, 0 for any (default 8080)
  -o, --home DIR          the node's home (default $HWD_HOME, else ${DEFAULT_HOME})
      --host IP           address to listen on (default 0.0.0.0)
      --peer ADDR         a node to stay connected to: multiaddr or host:port (repeatable)
      --announce MADDR    address to advertise instead of the listen addresses (repeatable)
      --no-mdns           no LAN discovery
      --package DIR       load the package in DIR, besides those in <home>/packages (repeatable)
      --allow NAME        only NAME (and other allowed nodes) may use this one; kept in the home (repeatable)
      --relay             also relay for nodes behind NATs that reach this one (see README)
      --relay-reservations N          how many NAT'd nodes may hold a slot at once (default 64)
      --relay-reservations-per-ip N   how many of them may be at one IP address (default 8)
      --relay-reservation-ttl SECONDS how long a slot lasts unless renewed, 60 at least (default 7200)
      --relay-duration SECONDS        cut each relayed connection after this long; 0: never (default)
      --relay-max-bytes BYTES         cut each relayed connection after this much (128K, 1G); 0: never (default)
      --no-mirror         serve only the packages this node published, not those it installed
      --http PORT         the web page's port, 0 for any (default: --port + 1000, any when --port is 0)
      --no-http           no web page
      --http-host IP      address the web page listens on (default 127.0.0.1; docker-compose.yml passes 0.0.0.0)

Every command takes its home from --home, else from the HWD_HOME environment variable.
Inside a node's terminal, type help for its commands.`

const homeOption = { home: { type: 'string', short: 'o', default: HOME } } as const

async function main (argv: string[]): Promise<number> {
  const [verb, ...rest] = argv
  switch (verb) {
    case 'start': return await start(rest)
    case 'run': return await run(rest)
    case 'status': return await status(rest)
    case 'new': return await newPackage(rest)
    case 'packages': return await onDaemon('packages', rest, [])
    // the folder as named here, where the daemon's own working folder may be another
    case 'publish': return await onDaemon('publish', rest, ['DIR'], dir => resolve(dir))
    case 'install': return await install(rest)
    case 'uninstall': return await onDaemon('uninstall', rest, ['NAME:PUBLISHER'])
    case undefined: case 'help': case '--help': case '-h':
      console.log(HELP)
      return verb == null ? 2 : 0
    case '--version': case '-v':
      console.log(version())
      return 0
    default:
      throw new UsageError(`unknown command ${JSON.stringify(verb)}; see hwd --help`)
  }
}

function parse<T extends ParseArgsConfig> (config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config)
  } catch (err: any) {
    throw new UsageError(`${err.message}; see hwd --help`)
  }
}

async function start (args: string[]): Promise<number> {
  const { values } = parse({
    args,
    options: {
      name: { type: 'string', short: 'f', default: 'fake.dev' },
      port: { type: 'string', short: 'p', default: '8080' },
      ...homeOption,
      host: { type: 'string', default: '0.0.0.0' },
      peer: { type: 'string', multiple: true, default: [] },
      announce: { type: 'string', multiple: true, default: [] },
      'no-mdns': { type: 'boolean', default: false },
      package: { type: 'string', multiple: true, default: [] },
      relay: { type: 'boolean', default: false },
      'relay-reservations': { type: 'string' },
      'relay-reservations-per-ip': { type: 'string' },
      'relay-reservation-ttl': { type: 'string' },
      'relay-duration': { type: 'string' },
      'relay-max-bytes': { type: 'string' },
      allow: { type: 'string', multiple: true, default: [] },
      'no-mirror': { type: 'boolean', default: false },
      http: { type: 'string' },
      'no-http': { type: 'boolean', default: false },
      'http-host': { type: 'string', default: '127.0.0.1' }
    }
  })
  const port = portNumber('--port', values.port)
  const http = webPage(port, values.http, values['no-http'], values['http-host'])
  const [{ isValidName }, { Daemon }, { PeerTarget }, { Terminal }, { completer }, { relayLimits }, { checkName }] = await Promise.all([
    import('../protocol/names/index.ts'), import('./daemon.ts'), import('./peer-keeper.ts'), import('./terminal.ts'), import('./completion.ts'), import('./relay.ts'), import('./access.ts')
  ])
  if (!isValidName(values.name)) throw new UsageError(`--name ${JSON.stringify(values.name)}: a node name is lower-case DNS labels, such as fake2.dev`)

  // A daemon serves many peers: a promise nobody awaited must not take all of them down.
  process.on('unhandledRejection', err => { console.error(`hwd: internal error, carrying on: ${describeError(err)}`) })
  // Listen for signals before anything starts, so a stop asked for during start-up is honoured.
  const stopAsked = new Promise<string>(resolve => {
    process.once('SIGINT', () => { resolve('SIGINT') })
    process.once('SIGTERM', () => { resolve('SIGTERM') })
  })
  const terminal = new Terminal(`${values.name}> `)
  const daemon = await Daemon.start({
    name: values.name,
    port,
    home: values.home,
    host: values.host,
    peers: values.peer.map(p => PeerTarget.parse(p)),
    announce: values.announce,
    mdns: !values['no-mdns'],
    packages: values.package,
    relay: relayLimits(values),
    allow: values.allow.map(checkName),
    mirror: !values['no-mirror'],
    http
  }, terminal)
  const s = await daemon.status()
  console.log(`hwd node ${s.name}`)
  console.log(`peer id    ${s.peerId}`)
  for (const a of s.listen) console.log(`listening  ${a}`)
  for (const a of s.addresses) console.log(`address    ${a}`)
  for (const p of s.packages) console.log(`package    ${describePackage(p)}`)
  if (s.web != null) console.log(`web        ${s.web}`)
  console.log(`home       ${s.home}`)
  terminal.start(daemon.commands, completer(daemon.commands, () => daemon.names.names().map(n => n.name).filter(n => n !== s.name)))

  const signal = await stopAsked
  console.log(`${signal}: stopping`)
  // A second signal, or a stop that hangs, ends the process anyway.
  const force = (): void => { console.error('hwd: stopping took too long; exiting'); process.exit(1) }
  setTimeout(force, STOP_DEADLINE_MS).unref()
  process.once('SIGINT', force)
  process.once('SIGTERM', force)
  terminal.stop()
  await daemon.stop()
  return 0
}

function portNumber (option: string, text: string): number {
  const port = Number(text)
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`${option} ${text}: expected a port number from 0 to 65535`)
  return port
}

/** Where the web page listens: the p2p port + 1000 unless told (8080 → 9080), any port beside an any-port node. */
function webPage (p2pPort: number, http: string | undefined, off: boolean, host: string): { host: string, port: number } | undefined {
  if (off) {
    if (http != null) throw new UsageError('--http and --no-http: choose one')
    return undefined
  }
  if (isIP(host) === 0) throw new UsageError(`--http-host must be an IP address to listen on, not ${JSON.stringify(host)}`)
  if (http != null) return { host, port: portNumber('--http', http) }
  if (p2pPort + 1000 > 65535) throw new UsageError(`--port ${p2pPort}: no default web page port above it; give one with --http PORT, or --no-http`)
  return { host, port: p2pPort === 0 ? 0 : p2pPort + 1000 }
}

async function run (args: string[]): Promise<number> {
  // hwd's own options end at COMMAND: what follows (history's --last, say) is the command's
  const { tokens } = parseArgs({ args, options: homeOption, allowPositionals: true, strict: false, tokens: true })
  const command = tokens.find(t => t.kind === 'positional')?.index ?? args.length
  const { values } = parse({ args: args.slice(0, command), options: homeOption })
  const positionals = args.slice(command)
  if (positionals.length === 0) throw new UsageError('usage: hwd run [--home DIR] COMMAND [ARGS...]')
  await runOn(values.home, positionals)
  return 0
}

/** Run one terminal command on the daemon of `home`, showing its lines and progress here. */
async function runOn (home: string, argv: string[], ask?: ClientHandlers['ask']): Promise<void> {
  const view = new ProgressView()
  try {
    await request(homePaths(home).socket, home, { op: 'run', argv, ...(ask != null ? { ask: true } : {}) }, {
      line: text => { view.line(text) },
      progress: update => { view.progress(update) },
      ask
    })
  } finally {
    view.stop()
  }
}

/**
 * `hwd install`: the daemon finds and checks the release and shows what it asks for; this
 * asks the person at the terminal, and only then has the daemon install exactly that release.
 */
async function install (args: string[]): Promise<number> {
  const { values, positionals } = parse({
    args,
    options: { ...homeOption, from: { type: 'string' }, version: { type: 'string' }, yes: { type: 'boolean', default: false } },
    allowPositionals: true
  })
  if (positionals.length !== 1) throw new UsageError('usage: hwd install [--home DIR] NAME:PUBLISHER [--from NODE] [--version V] [--yes]')
  const argv = ['install', positionals[0], ...(values.from != null ? ['--from', values.from] : []), ...(values.version != null ? ['--version', values.version] : []), ...(values.yes ? ['--yes'] : [])]
  let asked: { question: string, argv: string[] } | undefined
  await runOn(values.home, argv, (question, argv) => { asked = { question, argv } })
  if (asked == null) return 0
  if (process.stdin.isTTY !== true) throw new UsageError('not installed: there is no terminal to ask on; add --yes to install what is shown above')
  const rl = createInterface({ input: process.stdin, output: process.stdout })
  const answer = await rl.question(`${asked.question} [y/N] `).finally(() => { rl.close() })
  if (!/^y(es)?$/i.test(answer.trim())) {
    console.log('not installed')
    return 1
  }
  await runOn(values.home, asked.argv)
  return 0
}

/**
 * `hwd VERB [--home DIR] ARGS`, for the terminal commands that are also hwd's own (`packages`,
 * `publish`, `uninstall`): VERB with ARGS, as `usage` names them, on the home's daemon.
 */
async function onDaemon (verb: string, args: string[], usage: string[], toDaemon = (arg: string) => arg): Promise<number> {
  const { values, positionals } = parse({ args, options: homeOption, allowPositionals: true })
  if (positionals.length !== usage.length) throw new UsageError(`usage: hwd ${verb} [--home DIR]${usage.map(u => ` ${u}`).join('')}`)
  await runOn(values.home, [verb, ...positionals.map(toDaemon)])
  return 0
}

async function status (args: string[]): Promise<number> {
  const { values } = parse({ args, options: { ...homeOption, json: { type: 'boolean', default: false } } })
  let result: Status | undefined
  await request(homePaths(values.home).socket, values.home, { op: 'status' }, { status: s => { result = s as Status } })
  if (result == null) throw new Error('the daemon sent no status')
  if (values.json) console.log(printableJson(result))
  else printStatus(result)
  return 0
}

async function newPackage (args: string[]): Promise<number> {
  const { values, positionals } = parse({
    args,
    options: { publisher: { type: 'string', default: 'template.os' }, dir: { type: 'string', default: '.' } },
    allowPositionals: true
  })
  if (positionals.length !== 1) throw new UsageError('usage: hwd new NAME [--publisher P] [--dir DIR]')
  const { scaffold } = await import('./scaffold.ts')
  const dir = await scaffold(positionals[0], values.publisher, values.dir)
  console.log(`created ${dir}`)
  console.log(`load it with: hwd start --package ${dir}   (or copy it into <home>/packages/)`)
  console.log(`its commands: download:${positionals[0]}:${values.publisher}, list-files:..., fetch-all:...`)
  return 0
}

/** `photos:me.os 0.1.0 (sandboxed; holds file-transfer:template.os)`, as start-up and `hwd status` show it */
function describePackage (p: Status['packages'][number]): string {
  return `${p.id} ${p.version}${p.holds != null ? ` (sandboxed; holds ${p.holds})` : ''}`
}

function printStatus (s: Status): void {
  const row = (label: string, value: string): void => { console.log(`${label.padEnd(10)} ${printable(value)}`) }
  row('name', s.name)
  row('peer id', s.peerId)
  row('pid', String(s.pid))
  row('home', s.home)
  for (const a of s.listen) row('listening', a)
  for (const a of s.addresses) row('address', a)
  row('reached', REACHED[s.reachability])
  if (s.relays.length > 0) row('relays', s.relays.join(', '))
  if (s.slots != null) row('slots', `${s.slots.held.length} of ${s.slots.limit} held by NAT'd nodes`)
  for (const h of s.slots?.held ?? []) row('slot', `${h.name ?? '?'} ${h.peerId} until ${formatMinute(h.expires)} UTC`)
  if (s.peers.length === 0) row('peers', 'none connected')
  for (const p of s.peers) row('peer', `${p.name ?? '?'} ${p.peerId} ${p.route} ${p.addresses.join(' ')}`)
  for (const n of s.names) row('knows', `${n.name} ${n.peerId}`)
  for (const p of s.packages) row('package', describePackage(p))
  row('web', s.web ?? 'none (started with --no-http)')
  if (s.transfers.length === 0) row('transfers', 'none running')
  for (const t of s.transfers) {
    row('transfer', `${t.id} ${t.direction} ${t.label} ${t.peer} ${formatProgress(t.done, t.total)}`)
  }
  for (const i of s.interrupted) row('cut off', `${i.file} from ${i.source} in ${i.package}: ${formatProgress(i.have, i.size)}`)
}

function version (): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  return pkg.version
}

main(process.argv.slice(2)).then(code => {
  // The terminal's stdin and libp2p's timers would keep a stopped node alive. A pipe is written
  // to asynchronously: exiting before it drains cuts a long output (a status of many names) short.
  process.stdout.write('', () => process.exit(code))
}, err => {
  console.error(`hwd: ${printable(describeError(err))}`)
  process.exit(err instanceof UsageError ? 2 : 1)
})
