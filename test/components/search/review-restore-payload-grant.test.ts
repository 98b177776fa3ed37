import { describe, expect, it } from 'vitest';
import { asList, CDK_JSON, statementsOfFunction, synthesize } from '../../cdk/support.ts';

/**
 * Check recovery stores a long list of restored indexes beside the restore's report
 * (`backups/<id>/restores/<restoreId>-search-indexes.json.gz`, search/index-list.ts): it may write
 * there, and nothing else of the store (the restore side never overwrites a set).
 */
describe('the search check-recovery function', () => {
  it('may write backups/*/restores/* and nothing else of the store', () => {
    const template = synthesize(CDK_JSON.context.liferayBackup);
    const writes = statementsOfFunction(template, 'SearchCheckRecovery')
      .filter((s) => s.Effect === 'Allow' && asList(s.Action).includes('s3:PutObject'))
      .flatMap((s) => asList(s.Resource))
      .map((r) => JSON.stringify(r));
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.filter((r) => !/\/backups\/\*\/restores\/\*"/.test(r))).toEqual([]);
  });

  it('may delete nothing in the store', () => {
    const template = synthesize(CDK_JSON.context.liferayBackup);
    const deletes = statementsOfFunction(template, 'SearchCheckRecovery').filter(
      (s) => s.Effect === 'Allow' && asList(s.Action).some((a) => a.startsWith('s3:Delete')),
    );
    expect(deletes).toEqual([]);
  });
});
