import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Quota } from '../protocol/names/quota.ts'
import { Reports } from '../protocol/names/reports.ts'

describe('names quotas and reports', () => {
  it('counts new names per peer and in all within a window, a peer\'s first own record free, and starts over after it', () => {
    let now = 0
    const quota = new Quota(2, 3, 1000, () => now)
    assert.equal(quota.take('a', true), undefined, 'a\'s own first record is free')
    assert.deepEqual(['a', 'a', 'a'].map(p => quota.take(p, false)), [undefined, undefined, 'peer'])
    assert.equal(quota.take('a', true), 'peer', 'only the first own record is free')
    assert.deepEqual(['b', 'b'].map(p => quota.take(p, false)), [undefined, 'total'])
    now = 999
    assert.equal(quota.take('c', false), 'total')
    now = 1000
    assert.deepEqual(['a', 'a', 'a'].map(p => quota.take(p, false)), [undefined, undefined, 'peer'], 'a new window')
  })

  it('tells each line about a peer once a window, and a few lines at most', () => {
    let now = 0
    const lines: string[] = []
    const reports = new Reports(text => { lines.push(text) }, 60_000, () => now)
    for (let i = 0; i < 3; i++) reports.tell('P', 'same line')
    assert.deepEqual(lines, ['same line'])
    for (let i = 0; i < 40; i++) reports.tell('P', `line ${i}`)
    assert.equal(lines.length, 17)
    assert.equal(lines.at(-1), 'further refusals of what P sends are not shown for 1 min')
    reports.tell('Q', 'same line')
    assert.equal(lines.at(-1), 'same line', 'another peer has lines of its own')
    now = 60_000
    reports.tell('P', 'same line')
    assert.equal(lines.at(-1), 'same line', 'a new window')
  })
})
