import { describe, expect, it } from 'vitest';
import {
  classifyLiferayIndex,
  detectDxpVersion,
  isPrimaryStorage,
  parseDxpLine,
  selectIndexes,
} from '#components/search/liferay-indexes.ts';

/**
 * Fixtures: index names from learn.liferay.com's "Elasticsearch Indexes Reference" (7.3/7.4, company
 * 20097) and the Help Center article on multi-tenant index names (7.2 before SP3/FP8).
 */
const DXP_74 = [
  'liferay-0',
  'liferay-20097',
  'liferay-20097-commerce-ml-forecast',
  'liferay-20097-frequent-pattern-commerce-ml-recommendation',
  'liferay-20097-product-content-commerce-ml-recommendation',
  'liferay-20097-search-tuning-rankings',
  'liferay-20097-search-tuning-synonyms',
  'liferay-20097-workflow-metrics-instances',
  'liferay-20097-workflow-metrics-nodes',
  'liferay-20097-workflow-metrics-processes',
  'liferay-20097-workflow-metrics-sla-instance-results',
  'liferay-20097-workflow-metrics-sla-task-results',
  'liferay-20097-workflow-metrics-tasks',
  'liferay-20097-workflow-metrics-transitions',
];
const DXP_73_EXTRA = 'liferay-20097-workflow-metrics-tokens';
const DXP_72_LEGACY = [
  'liferay-0',
  'liferay-20101',
  'liferay-search-tuning-rankings',
  'liferay-search-tuning-synonyms',
  'workflow-metrics-instances',
  'workflow-metrics-sla-instance-results',
  'workflow-metrics-sla-task-results',
];
const NOT_LIFERAY = [
  '.kibana_1',
  '.opendistro-job-scheduler-lock',
  'logs-2026.11.27',
  'liferayish',
  'liferay-abc',
];

describe('classifyLiferayIndex', () => {
  it('knows the system, company and app indexes for the default prefix', () => {
    expect(classifyLiferayIndex('liferay-0')).toEqual({ kind: 'system', companyId: '0' });
    expect(classifyLiferayIndex('liferay-20097')).toEqual({ kind: 'company', companyId: '20097' });
    expect(classifyLiferayIndex('liferay-20097-search-tuning-synonyms')?.kind).toBe('search-tuning');
    expect(classifyLiferayIndex('liferay-20097-workflow-metrics-sla-task-results')?.kind).toBe(
      'workflow-metrics-sla-results',
    );
    expect(classifyLiferayIndex('liferay-20097-workflow-metrics-nodes')?.kind).toBe('workflow-metrics');
    expect(classifyLiferayIndex('liferay-20097-user-commerce-ml-recommendation')?.kind).toBe('commerce-ml');
  });

  it('honours another index name prefix, and then ignores the default one', () => {
    expect(classifyLiferayIndex('prod-eu-20097-search-tuning-rankings', 'prod-eu-')?.kind).toBe(
      'search-tuning',
    );
    expect(classifyLiferayIndex('liferay-20097', 'prod-eu-')).toBeUndefined();
  });

  it('knows the 7.2 pre-SP3 app index names', () => {
    expect(classifyLiferayIndex('liferay-search-tuning-rankings')).toEqual({
      kind: 'search-tuning',
      legacy: true,
    });
    expect(classifyLiferayIndex('workflow-metrics-sla-instance-results')).toEqual({
      kind: 'workflow-metrics-sla-results',
      legacy: true,
    });
  });

  it('leaves other indexes alone', () => {
    for (const name of NOT_LIFERAY) expect(classifyLiferayIndex(name), name).toBeUndefined();
  });
});

describe('DXP version', () => {
  it('parses configured versions, quarterly releases included', () => {
    expect(parseDxpLine('7.2')).toBe('7.2');
    expect(parseDxpLine('7.3.10-u36')).toBe('7.3');
    expect(parseDxpLine('7.4.13-u92')).toBe('7.4+');
    expect(parseDxpLine('7.4 GA129')).toBe('7.4+');
    expect(parseDxpLine('2024.q1.1')).toBe('7.4+');
    expect(parseDxpLine('2025.Q1.0-LTS')).toBe('7.4+');
    expect(parseDxpLine('6.2')).toBeUndefined();
    expect(parseDxpLine('7.30')).toBeUndefined();
  });

  it('prefers the configuration, then the index names, else says unknown', () => {
    expect(detectDxpVersion('7.3', DXP_74)).toEqual({ line: '7.3', source: 'config', evidence: '7.3' });
    expect(detectDxpVersion(undefined, DXP_72_LEGACY)).toEqual({
      line: '7.2',
      source: 'index-names',
      evidence: 'liferay-search-tuning-rankings',
    });
    expect(detectDxpVersion(undefined, [...DXP_74, DXP_73_EXTRA])).toMatchObject({
      line: '7.3',
      source: 'index-names',
    });
    expect(detectDxpVersion(undefined, DXP_74)).toEqual({ line: 'unknown', source: 'unknown' });
    // An unparseable configured version falls back to the names.
    expect(detectDxpVersion('next', DXP_72_LEGACY).line).toBe('7.2');
  });
});

describe('primary storage', () => {
  it('is search tuning on 7.2/7.3 (and when unknown) and SLA results always', () => {
    expect(isPrimaryStorage('search-tuning', '7.2')).toBe(true);
    expect(isPrimaryStorage('search-tuning', '7.3')).toBe(true);
    expect(isPrimaryStorage('search-tuning', '7.4+')).toBe(false);
    expect(isPrimaryStorage('search-tuning', 'unknown')).toBe(true);
    expect(isPrimaryStorage('workflow-metrics-sla-results', '7.4+')).toBe(true);
    for (const kind of ['system', 'company', 'workflow-metrics', 'commerce-ml', 'app', 'other'] as const) {
      expect(isPrimaryStorage(kind, '7.3'), kind).toBe(false);
    }
  });
});

describe('selectIndexes', () => {
  it("selects every Liferay index by default and nothing of the engine's own", () => {
    expect(selectIndexes([...DXP_74, ...NOT_LIFERAY])).toEqual([...DXP_74].sort());
    expect(selectIndexes([...DXP_72_LEGACY, ...NOT_LIFERAY])).toEqual([...DXP_72_LEGACY].sort());
  });

  it('uses configured patterns instead when given', () => {
    expect(
      selectIndexes([...DXP_74, ...NOT_LIFERAY], { patterns: ['liferay-*-search-tuning-*', 'logs-*'] }),
    ).toEqual([
      'liferay-20097-search-tuning-rankings',
      'liferay-20097-search-tuning-synonyms',
      'logs-2026.11.27',
    ]);
  });

  it('honours the prefix', () => {
    expect(selectIndexes(['acme-0', 'acme-20097', 'liferay-0'], { prefix: 'acme-' })).toEqual([
      'acme-0',
      'acme-20097',
    ]);
  });
});
