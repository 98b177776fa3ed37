import { describe, expect, it } from 'vitest';
import type { IndexInfo } from '#components/search/engine.ts';
import { redactEndpoint } from '#components/search/engine-errors.ts';
import {
  type SearchRestoreRequest,
  type SearchResultDetails,
  searchRestoreRequestSchema,
} from '#components/search/records.ts';
import {
  checkSearchRestore,
  exactNamesPattern,
  planRestore,
  selectForRestore,
} from '#components/search/restore.ts';
import { DETAILS } from './fixtures.ts';

/** Which indexes a restore takes and what happens to existing ones: decided before anything changes. */

const request = (value: unknown): SearchRestoreRequest => searchRestoreRequestSchema.parse(value);
const open = (name: string, primaryShards = 1): IndexInfo => ({
  name,
  status: 'open',
  docCount: 1,
  primaryShards,
});
const closed = (name: string, primaryShards = 1): IndexInfo => ({ name, status: 'close', primaryShards });

describe('selectForRestore', () => {
  it('takes the primary-storage indexes by default, all on request, or the listed ones', () => {
    expect(selectForRestore(DETAILS, request({})).indexes.map((index) => index.name)).toEqual([
      'liferay-20097-search-tuning-rankings',
      'liferay-20097-workflow-metrics-sla-task-results',
    ]);
    expect(selectForRestore(DETAILS, request({ indexes: 'all' })).indexes).toHaveLength(4);
    expect(
      selectForRestore(DETAILS, request({ indexes: ['liferay-0', 'liferay-20097-*'] })).indexes,
    ).toHaveLength(3);
    expect(selectForRestore(DETAILS, request({ indexes: ['liferay-1234'] })).problems).toEqual([
      "index liferay-1234 is not in the set's snapshot",
    ]);
  });

  it('says so when a set has no primary-storage index', () => {
    const only74 = {
      ...DETAILS,
      dxp: { line: '7.4+' as const, source: 'config' as const },
      indexes: DETAILS.indexes.slice(0, 2),
    };
    expect(selectForRestore(only74, request({})).problems[0]).toMatch(
      /holds no primary-storage index \(DXP 7\.4\+/,
    );
  });
});

describe('planRestore', () => {
  const primary = selectForRestore(DETAILS, request({})).indexes;

  it('restores under the original names when nothing is in the way', () => {
    const plan = planRestore(primary, [open('liferay-0')], request({}));
    expect(plan.problems).toEqual([]);
    expect(plan.rename).toBeUndefined();
    expect(plan.indexes.map((index) => [index.target, index.conflict, index.expectedDocs])).toEqual([
      ['liferay-20097-search-tuning-rankings', 'none', { min: 7, max: 7 }],
      // Writes during the snapshot: the range the restored count may fall in.
      ['liferay-20097-workflow-metrics-sla-task-results', 'none', { min: 40, max: 42 }],
    ]);
  });

  it('names every existing index, open or closed, and changes nothing by default', () => {
    const plan = planRestore(
      primary,
      [
        open('liferay-20097-search-tuning-rankings'),
        closed('liferay-20097-workflow-metrics-sla-task-results'),
      ],
      request({}),
    );
    expect(plan.problems).toEqual([
      'index liferay-20097-search-tuning-rankings exists (open)',
      'index liferay-20097-workflow-metrics-sla-task-results exists (closed)',
      'nothing was changed; choose "onConflict" (CLI: --search-on-conflict): "rename" (restore beside them), "close" or "replace"',
    ]);
    expect(plan.close).toEqual([]);
    expect(plan.delete).toEqual([]);
  });

  it('renames only the conflicting ones, with an exact pattern, and refuses a taken new name', () => {
    const plan = planRestore(
      primary,
      [open('liferay-20097-search-tuning-rankings')],
      request({ onConflict: 'rename' }),
    );
    expect(plan.problems).toEqual([]);
    expect(plan.rename).toEqual({
      pattern: '^(liferay-20097-search-tuning-rankings)$',
      replacement: 'restored-$1',
    });
    expect(plan.indexes.map((index) => index.target)).toEqual([
      'restored-liferay-20097-search-tuning-rankings',
      'liferay-20097-workflow-metrics-sla-task-results',
    ]);
    const taken = planRestore(
      primary,
      [open('liferay-20097-search-tuning-rankings'), open('old-liferay-20097-search-tuning-rankings')],
      request({ onConflict: 'rename', renamePrefix: 'old-' }),
    );
    expect(taken.problems).toEqual([
      'index liferay-20097-search-tuning-rankings would be restored as old-liferay-20097-search-tuning-rankings, which exists too; choose another "renamePrefix" (CLI: --search-rename-prefix)',
    ]);
  });

  it('closes open ones (not closed ones) and refuses when the shard counts differ', () => {
    const plan = planRestore(
      primary,
      [
        open('liferay-20097-search-tuning-rankings'),
        closed('liferay-20097-workflow-metrics-sla-task-results'),
      ],
      request({ onConflict: 'close' }),
    );
    expect(plan.problems).toEqual([]);
    expect(plan.close).toEqual(['liferay-20097-search-tuning-rankings']);
    const reshaped = planRestore(
      primary,
      [open('liferay-20097-search-tuning-rankings', 3)],
      request({ onConflict: 'close' }),
    );
    expect(reshaped.problems[0]).toMatch(
      /has 3 primary shards and its snapshot 1: it cannot be restored over; choose "onConflict": "rename" or "replace"/,
    );
  });

  it('deletes the existing ones first on replace', () => {
    const plan = planRestore(
      primary,
      [open('liferay-20097-search-tuning-rankings')],
      request({ onConflict: 'replace' }),
    );
    expect(plan.delete).toEqual(['liferay-20097-search-tuning-rankings']);
    expect(plan.indexes[0]?.conflict).toBe('replaced');
  });

  it('escapes index names in the rename pattern', () => {
    expect(exactNamesPattern(['a.b', 'c+d'])).toBe('^(a\\.b|c\\+d)$');
    expect(new RegExp(exactNamesPattern(['a.b'])).test('axb')).toBe(false);
  });
});

describe('checkSearchRestore (Validate, no I/O)', () => {
  it('accepts a good request and names what is wrong with a bad one', () => {
    expect(checkSearchRestore(DETAILS, request({}))).toEqual([]);
    expect(checkSearchRestore(DETAILS, request({ indexes: ['nope'] }))).toEqual([
      "index nope is not in the set's snapshot",
    ]);
    expect(checkSearchRestore({ engine: 'x' }, request({}))[0]).toMatch(
      /^the set's search record is not readable/,
    );
    const long = request({ onConflict: 'rename', renamePrefix: 'x'.repeat(60) });
    const longName = {
      ...DETAILS,
      indexes: [{ ...DETAILS.indexes[2], name: `liferay-20097-${'a'.repeat(190)}` }],
    } as SearchResultDetails;
    expect(checkSearchRestore(longName, { ...long, indexes: 'all' })[0]).toMatch(
      /would be longer than 255 bytes/,
    );
  });

  it('refuses unknown keys and values in the request itself', () => {
    expect(searchRestoreRequestSchema.safeParse({ onConflict: 'delete' }).success).toBe(false);
    expect(searchRestoreRequestSchema.safeParse({ index: 'all' }).success).toBe(false);
    expect(searchRestoreRequestSchema.safeParse({ renamePrefix: '_x' }).success).toBe(false);
    expect(searchRestoreRequestSchema.safeParse({ indexes: ['a,b'] }).success).toBe(false);
  });
});

describe('redactEndpoint', () => {
  it('shows scheme, host and path, never user info, even when a password is not URL-encoded', () => {
    expect(redactEndpoint('https://elastic:s3cret@search.example.com:9200/')).toBe(
      'https://search.example.com:9200',
    );
    expect(redactEndpoint('https://elastic:2024/S3cret@search.example.com:9200')).toBe(
      'https://***@search.example.com:9200',
    );
    expect(redactEndpoint('https://elastic:2024?S3cret@search.example.com:9200')).not.toContain('S3cret');
    expect(redactEndpoint('not a url')).toBe('(invalid endpoint)');
  });
});
