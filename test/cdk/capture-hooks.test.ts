import { describe, expect, it } from 'vitest';
import { asList, CDK_JSON, type Statement, statementsOfFunction, synthesize } from './support.ts';

/**
 * The capture hooks' grants, from the example cdk.json (SSM hooks targeting instances by tag): the
 * start sends the document to the tagged instances only, and looks for the command an earlier
 * attempt of the step sent (hook-runners.ts); the check polls and cancels.
 */

const actionsOf = (statements: Statement[]) => statements.flatMap((statement) => asList(statement.Action));

describe('capture hook grants', () => {
  const template = synthesize(CDK_JSON.context.liferayBackup);
  const runHook = statementsOfFunction(template, 'CaptureHooksRunHook');
  const checkHook = statementsOfFunction(template, 'CaptureHooksCheckHook');

  it('the start may send the documents to the tagged instances and list commands, nothing more of SSM', () => {
    const ssm = actionsOf(runHook).filter((action) => action.startsWith('ssm:'));
    expect(new Set(ssm)).toEqual(new Set(['ssm:SendCommand', 'ssm:ListCommands']));
    const sends = runHook.filter((statement) => asList(statement.Action).includes('ssm:SendCommand'));
    const resources = JSON.stringify(sends.map((statement) => statement.Resource));
    expect(resources).toContain('document/LiferayPauseIndexing');
    expect(resources).toContain('document/LiferayResumeIndexing');
    for (const statement of sends.filter((s) => JSON.stringify(s.Resource).includes(':instance/')))
      expect(statement.Condition).toEqual({ StringEquals: { 'ssm:resourceTag/Role': ['liferay'] } });
  });

  it('the check may list and cancel commands, and send none', () => {
    const ssm = actionsOf(checkHook).filter((action) => action.startsWith('ssm:'));
    expect(new Set(ssm)).toEqual(new Set(['ssm:ListCommands', 'ssm:CancelCommand']));
  });
});
