import { describe, expect, it } from 'vitest';
import { beginBackup } from '#backup-set/begin-backup.ts';
import { commitBackup } from '#backup-set/commit-backup.ts';
import { validateRestore } from '#backup-set/validate-restore.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { testRuntime } from '../support/local-runtime.ts';

/**
 * Options for a component the request does not restore: "add it to "components"" helps only when
 * the set holds that component. `--git-target` given for a set without source (a database-only
 * hourly set, say) must say that the set holds none, and where to see what it holds.
 */

const COMPONENTS = { liferayHome: { root: '/tmp/x' }, appServer: { root: '/tmp/y' } };
const T0 = new Date('2026-11-27T02:00:00Z');

function clock() {
  let t = T0.getTime();
  return () => {
    t += 1000;
    return new Date(t);
  };
}

const complete = (component: string) => ({
  component,
  status: 'complete',
  warnings: [],
  summary: {},
  details: {
    engine: 'files',
    index: { key: `objects/indexes/${component}`, size: 1, sha256: '0'.repeat(64) },
    sources: [{ mount: '', root: '/tmp/x', role: 'tree' }],
    rules: { include: [], exclude: [] },
  },
});

async function backup(rt: Runtime): Promise<string> {
  const context = await beginBackup({}, rt);
  await commitBackup({ backup: context, results: [complete('liferayHome'), complete('appServer')] }, rt);
  return context.backupId;
}

describe('Validate: options for a component that is not restored', () => {
  it('says the set holds none of it when it does not, instead of "add it to components"', async () => {
    const rt = testRuntime({ components: COMPONENTS, now: clock() });
    const id = await backup(rt);
    const refused = await validateRestore(
      { backupId: id, source: { targets: [{ url: 'https://git.example.com/acme/workspace.git' }] } },
      rt,
    ).catch((error: unknown) => error as Error);
    expect(refused).toBeInstanceOf(Error);
    const message = (refused as Error).message;
    expect(message).toContain(
      `source: options were given, but backup set ${id} holds no complete copy of it (not backed up): ` +
        `leave them out, or restore another set (\`liferay-backup show ${id}\`, or the manifest backups/${id}/manifest.json, lists what it holds)`,
    );
    expect(message).not.toContain('add it to "components"');
  });

  it('still says "add it to components" when the set holds it', async () => {
    const rt = testRuntime({ components: COMPONENTS, now: clock() });
    const id = await backup(rt);
    await expect(
      validateRestore(
        {
          backupId: id,
          components: ['liferayHome'],
          liferayHome: { target: '/tmp/t' },
          appServer: { target: '/tmp/u' },
        },
        rt,
      ),
    ).rejects.toThrow(
      /appServer: options were given but the component is not being restored \(add it to "components"\)/,
    );
  });
});
