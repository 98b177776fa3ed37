import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { finalizeRestore } from '#components/files/restore-finalize.ts';
import { planRestore } from '#components/files/restore-plan.ts';
import type { Handler } from '#runtime/runtime.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { tempDir } from '../support/local-runtime.ts';
import {
  backup,
  backupIdOf,
  causeOf,
  homeSettings,
  makeHome,
  restore,
  restoreIdsOf,
  restoreReport,
  runtimeWith,
  writeTree,
} from './support.ts';

/**
 * Putting a restored tree in place (restore-swap.ts): what a swap keeps from the live tree, and
 * every state an earlier attempt of Plan or Finalize can leave (Step Functions runs a step again
 * when Lambda's answer is lost, which can happen after the function ran to its end).
 */

/** Renames that fail with EIO, to drive a swap's second rename (and its rollback) into failure. */
const renameFault = vi.hoisted(() => ({ failing: [] as string[] }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:fs/promises')>();
  const rename: typeof original.rename = async (from, to) => {
    if (renameFault.failing.some((part) => String(from).includes(part)))
      throw Object.assign(new Error(`EIO: i/o error, rename '${String(from)}' -> '${String(to)}'`), {
        code: 'EIO',
      });
    return original.rename(from, to);
  };
  return { ...original, rename, default: { ...original, rename } };
});

const work = tempDir('restore-swap');
afterAll(() => work.cleanup());

/** Lambda's answer lost after the function ran: Step Functions names it so and retries. */
function answerLost(): Error {
  return Object.assign(new Error('Lambda service error: the invocation answer was lost'), {
    name: 'Lambda.ServiceException',
  });
}

/** A handler whose first answer is lost after it ran to its end. */
function losesFirstAnswer(inner: Handler): { handler: Handler; calls: () => number } {
  let calls = 0;
  return {
    handler: async (event, rt) => {
      calls += 1;
      const result = await inner(event, rt);
      if (calls === 1) throw answerLost();
      return result;
    },
    calls: () => calls,
  };
}

async function backedUpHome(name: string) {
  const home = path.join(work.dir, name, 'home');
  makeHome(home, 12);
  const store = new LocalFolderStore(path.join(work.dir, name, 'store'));
  const rt = runtimeWith(store, { liferayHome: homeSettings(home) });
  const outcome = await backup(rt);
  expect(outcome.status).toBe('SUCCEEDED');
  return { home, store, rt, backupId: backupIdOf(outcome) };
}

const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : 'MISSING');

interface HomeDetails {
  swapped: boolean;
  previousTree?: string;
  carriedOver?: { count: number; paths: string[] };
}

describe('a swap keeps what the backup leaves out on purpose', () => {
  it('moves the bundle (Tomcat, osgi/core, tools, the Patching Tool) from the live tree into the restored one, and nothing else', async () => {
    // Prepare: a DXP bundle layout. The rules select the configuration, data, license and
    // modules; the app server folder, osgi/core, tools and the Patching Tool come with the bundle.
    const home = path.join(work.dir, 'bundle', 'liferay');
    makeHome(home, 8);
    writeTree(home, {
      'tomcat/conf/server.xml': '<Server port="8005"/>\n',
      'tomcat/bin/catalina.sh': '#!/bin/sh\n',
      'osgi/core/com.liferay.portal.kernel.jar': 'core',
      'osgi/state/org.eclipse.osgi/.manager/.fileTable.4': 'state at backup time',
      'tools/portal-tools-db-upgrade-client/upgrade.sh': '#!/bin/sh\n',
      'patching-tool/lib/patching-tool.jar': 'jar',
    });
    fs.chmodSync(path.join(home, 'tomcat', 'bin', 'catalina.sh'), 0o755);
    const store = new LocalFolderStore(path.join(work.dir, 'bundle', 'store'));
    const rt = runtimeWith(store, { liferayHome: homeSettings(home) });
    const backupId = backupIdOf(await backup(rt));
    const rootMtime = fs.statSync(home).mtimeMs;
    const osgiMtime = fs.statSync(path.join(home, 'osgi')).mtimeMs;

    // The disaster, and what happened since the backup: the configuration is damaged, a document
    // was added, Tomcat's configuration was changed on purpose, OSGi rebuilt its state.
    fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'damaged\n');
    writeTree(home, {
      'data/document_library/20101/new/1.0': 'added after the backup',
      'tomcat/conf/server.xml': '<Server port="8005"><!-- tuned since --></Server>\n',
      'osgi/state/org.eclipse.osgi/.manager/.fileTable.5': 'state after',
    });

    // Act
    const outcome = await restore(rt, { backupId, liferayHome: { swap: true } });

    // Assess: the restored tree is live, with the live bundle inside it.
    const report = await restoreReport(store, restoreIdsOf(outcome));
    const result = report.results.liferayHome;
    expect(result?.status).toBe('complete');
    const details = result?.details as unknown as HomeDetails;
    const previous = details.previousTree as string;
    expect(details.swapped).toBe(true);
    expect(read(path.join(home, 'portal-ext.properties'))).toBe(
      'jdbc.default.driverClassName=org.mariadb.jdbc.Driver\n',
    );
    expect(read(path.join(home, 'tomcat/conf/server.xml'))).toBe(
      '<Server port="8005"><!-- tuned since --></Server>\n',
    );
    expect(fs.statSync(path.join(home, 'tomcat/bin/catalina.sh')).mode & 0o777).toBe(0o755);
    expect(read(path.join(home, 'osgi/core/com.liferay.portal.kernel.jar'))).toBe('core');
    expect(read(path.join(home, 'tools/portal-tools-db-upgrade-client/upgrade.sh'))).toBe('#!/bin/sh\n');
    expect(read(path.join(home, 'patching-tool/lib/patching-tool.jar'))).toBe('jar');
    expect(details.carriedOver?.paths.sort()).toEqual(['osgi/core', 'patching-tool/lib', 'tomcat', 'tools']);
    expect(result?.warnings.join('\n')).toContain(
      `kept from the live tree, which the backup leaves out on purpose`,
    );
    // What Liferay regenerates, and what the backup did not hold, stay in the previous tree.
    expect(fs.existsSync(path.join(home, 'osgi/state'))).toBe(false);
    expect(fs.existsSync(path.join(home, 'data/document_library/20101/new'))).toBe(false);
    expect(read(path.join(previous, 'osgi/state/org.eclipse.osgi/.manager/.fileTable.5'))).toBe(
      'state after',
    );
    expect(read(path.join(previous, 'data/document_library/20101/new/1.0'))).toBe('added after the backup');
    expect(fs.existsSync(path.join(previous, 'tomcat'))).toBe(false);
    // The restored folders keep the backup's mtimes (to the microsecond) although entries were moved into them.
    expect(fs.statSync(home).mtimeMs).toBeCloseTo(rootMtime, 2);
    expect(fs.statSync(path.join(home, 'osgi')).mtimeMs).toBeCloseTo(osgiMtime, 2);
  });

  it('moves nothing when the restored tree goes into a missing folder, or beside a live tree without swap', async () => {
    const { rt, store, home, backupId } = await backedUpHome('noswap');
    writeTree(home, { 'tomcat/conf/server.xml': '<Server/>\n' });
    const beside = await restore(rt, { backupId, liferayHome: {} });
    const besideDetails = (await restoreReport(store, restoreIdsOf(beside))).results.liferayHome
      ?.details as unknown as HomeDetails & { location: string };
    expect(besideDetails.carriedOver).toBeUndefined();
    expect(fs.existsSync(path.join(besideDetails.location, 'tomcat'))).toBe(false);
    expect(read(path.join(home, 'tomcat/conf/server.xml'))).toBe('<Server/>\n');
  });
});

describe('the "Liferay is down" restore on a bundle layout (Tomcat inside the Liferay Home)', () => {
  it('swaps both trees: the restored app server ends up inside the restored Liferay Home', async () => {
    // Prepare: backup --home /opt/liferay --app-server /opt/liferay/tomcat-9.0.83, as in the README.
    const home = path.join(work.dir, 'nested', 'liferay');
    const tomcat = path.join(home, 'tomcat-9.0.83');
    makeHome(home, 12);
    writeTree(tomcat, {
      'conf/server.xml': '<Server port="8005"/>\n',
      'bin/setenv.sh': 'CATALINA_OPTS="-Xmx4g"\n',
      'webapps/ROOT/WEB-INF/web.xml': '<web-app/>\n',
    });
    const store = new LocalFolderStore(path.join(work.dir, 'nested', 'store'));
    const rt = runtimeWith(store, { liferayHome: homeSettings(home), appServer: homeSettings(tomcat) });
    const backupId = backupIdOf(await backup(rt));
    // The disaster: both live trees damaged, but present (so each needs a swap).
    fs.writeFileSync(path.join(home, 'portal-ext.properties'), 'damaged\n');
    fs.writeFileSync(path.join(tomcat, 'conf', 'server.xml'), 'damaged\n');

    // Act: the runbook's request.
    const outcome = await restore(rt, {
      backupId,
      components: ['liferayHome', 'appServer'],
      liferayHome: { swap: true },
      appServer: { swap: true },
    });

    // Assess: both restored in place; the Liferay Home's swap carried the live Tomcat over, and the
    // app server's swap (which starts after it) replaced it there.
    expect(outcome.status === 'FAILED' ? outcome.cause : 'SUCCEEDED').toBe('SUCCEEDED');
    const ids = restoreIdsOf(outcome);
    expect(read(path.join(home, 'portal-ext.properties'))).toBe(
      'jdbc.default.driverClassName=org.mariadb.jdbc.Driver\n',
    );
    expect(read(path.join(tomcat, 'conf/server.xml'))).toBe('<Server port="8005"/>\n');
    const report = await restoreReport(store, ids);
    const homeDetails = report.results.liferayHome?.details as unknown as HomeDetails;
    const tomcatDetails = report.results.appServer?.details as unknown as HomeDetails;
    expect(homeDetails.carriedOver?.paths).toEqual(['tomcat-9.0.83']);
    expect(fs.existsSync(path.join(homeDetails.previousTree as string, 'tomcat-9.0.83'))).toBe(false);
    expect(tomcatDetails.previousTree).toBe(`${tomcat}.before-${ids.restoreId}`);
    expect(read(path.join(tomcatDetails.previousTree as string, 'conf/server.xml'))).toBe('damaged\n');
  });
});

describe('a retried files restore step', () => {
  it('Plan retried after it ran (answer lost) uses the staging folder it made', async () => {
    const { rt, backupId } = await backedUpHome('plan');
    const target = path.join(work.dir, 'plan', 'restored');
    const plan = losesFirstAnswer(planRestore);
    const outcome = await restore(
      rt,
      { backupId, liferayHome: { target } },
      { taskOverrides: { 'Liferay Home plan restore': plan.handler } },
    );
    expect(plan.calls()).toBe(2);
    expect(outcome.status === 'FAILED' ? outcome.cause : 'SUCCEEDED').toBe('SUCCEEDED');
    expect(read(path.join(target, 'portal-ext.properties'))).toBe(
      'jdbc.default.driverClassName=org.mariadb.jdbc.Driver\n',
    );
  });

  it('Plan refuses a staging folder of its name that holds something', async () => {
    const { rt, backupId } = await backedUpHome('plan-full');
    const target = path.join(work.dir, 'plan-full', 'restored');
    const planThenFill: Handler = async (event, runtime) => {
      const { restore: ctx } = event as { restore: { restoreId: string } };
      writeTree(`${target}.restore-${ctx.restoreId}`, { 'someone-elses.txt': 'x' });
      return planRestore(event, runtime);
    };
    const outcome = await restore(
      rt,
      { backupId, liferayHome: { target } },
      { taskOverrides: { 'Liferay Home plan restore': planThenFill } },
    );
    expect(causeOf(outcome)).toMatch(/the staging folder .*\.restore-r\S+ exists already and is not empty/);
  });

  it('Finalize retried after it swapped the tree in (answer lost) reports the swap it made', async () => {
    const { rt, store, backupId } = await backedUpHome('finalize');
    const target = path.join(work.dir, 'finalize', 'live');
    makeHome(target, 3, 'live');
    writeTree(target, { 'tomcat/conf/server.xml': '<Server/>\n' });
    const finalize = losesFirstAnswer(finalizeRestore);
    const outcome = await restore(
      rt,
      { backupId, liferayHome: { target, swap: true } },
      { taskOverrides: { 'Liferay Home restore finalize': finalize.handler } },
    );
    expect(finalize.calls()).toBe(2);
    expect(outcome.status === 'FAILED' ? outcome.cause : 'SUCCEEDED').toBe('SUCCEEDED');
    const result = (await restoreReport(store, restoreIdsOf(outcome))).results.liferayHome;
    const details = result?.details as unknown as HomeDetails;
    expect(details.swapped).toBe(true);
    expect(read(path.join(details.previousTree as string, 'data/document_library/20101/000/1.0'))).not.toBe(
      'MISSING',
    );
    expect(read(path.join(target, 'tomcat/conf/server.xml'))).toBe('<Server/>\n');
  });

  it('Finalize retried after it died between the two renames of a swap completes the swap and says where the live tree went', async () => {
    const { rt, store, backupId } = await backedUpHome('between');
    const target = path.join(work.dir, 'between', 'live');
    makeHome(target, 3, 'live');
    let calls = 0;
    const diesBetweenRenames: Handler = async (event, runtime) => {
      calls += 1;
      if (calls === 1) {
        const { restore: ctx } = event as { restore: { restoreId: string } };
        fs.renameSync(target, `${target}.before-${ctx.restoreId}`);
        throw answerLost();
      }
      return finalizeRestore(event, runtime);
    };
    const outcome = await restore(
      rt,
      { backupId, liferayHome: { target, swap: true } },
      { taskOverrides: { 'Liferay Home restore finalize': diesBetweenRenames } },
    );
    const ids = restoreIdsOf(outcome);
    expect(outcome.status).toBe('SUCCEEDED');
    const previousTree = `${target}.before-${ids.restoreId}`;
    expect(read(path.join(target, 'portal-ext.properties'))).toBe(
      'jdbc.default.driverClassName=org.mariadb.jdbc.Driver\n',
    );
    expect(fs.existsSync(path.join(previousTree, 'portal-ext.properties'))).toBe(true);
    const home = (await restoreReport(store, ids)).results.liferayHome;
    expect(home?.details).toMatchObject({ swapped: true, previousTree });
    expect(home?.warnings.join('\n')).toContain(`the previous tree was kept as ${previousTree}`);
  });

  it('Finalize finding its staging folder gone without having put it in place fails and says the tree is lost', async () => {
    const { rt, backupId } = await backedUpHome('gone');
    const target = path.join(work.dir, 'gone', 'restored');
    const removesStaging: Handler = async (event, runtime) => {
      const { restore: ctx } = event as { restore: { restoreId: string } };
      fs.rmSync(`${target}.restore-${ctx.restoreId}`, { recursive: true, force: true });
      return finalizeRestore(event, runtime);
    };
    const outcome = await restore(
      rt,
      { backupId, liferayHome: { target } },
      { taskOverrides: { 'Liferay Home restore finalize': removesStaging } },
    );
    expect(causeOf(outcome)).toContain('is gone and no earlier attempt of this restore put it in place');
    expect(fs.existsSync(target)).toBe(false);
  });
});

describe('a swap whose second rename fails', () => {
  it('puts the live tree back and says where the restored tree is', async () => {
    const { rt, backupId } = await backedUpHome('midway');
    const target = path.join(work.dir, 'midway', 'live');
    makeHome(target, 3, 'live');
    const liveDocument = fs.readFileSync(path.join(target, 'data/document_library/20101/000/1.0'));
    renameFault.failing = ['live.restore-r'];
    const outcome = await restore(rt, { backupId, liferayHome: { target, swap: true } }).finally(() => {
      renameFault.failing = [];
    });
    const cause = causeOf(outcome);
    const { restoreId } = restoreIdsOf(outcome);
    expect(fs.readFileSync(path.join(target, 'data/document_library/20101/000/1.0'))).toEqual(liveDocument);
    expect(fs.existsSync(`${target}.before-${restoreId}`)).toBe(false);
    expect(cause).toContain(`the live tree was put back at ${target} unchanged`);
    expect(cause).toContain(`the restored tree is in ${target}.restore-${restoreId}`);
  });

  it('that cannot put the live tree back either says the target is missing and how to put it back', async () => {
    const { rt, backupId } = await backedUpHome('rollback');
    const target = path.join(work.dir, 'rollback', 'live');
    makeHome(target, 3, 'live');
    renameFault.failing = ['live.restore-r', 'live.before-r'];
    const outcome = await restore(rt, { backupId, liferayHome: { target, swap: true } }).finally(() => {
      renameFault.failing = [];
    });
    const cause = causeOf(outcome);
    const { restoreId } = restoreIdsOf(outcome);
    expect(fs.existsSync(target)).toBe(false);
    expect(cause).toContain(`${target} is MISSING`);
    expect(cause).toContain(`mv '${target}.before-${restoreId}' '${target}'`);
  });
});

describe('a target that is a mount point (a volume of its own)', () => {
  it('is refused before anything is written, saying where to restore instead', async () => {
    // /dev/shm is a mount point on Linux; a test cannot mount one of its own without privileges.
    const target = '/dev/shm';
    expect(fs.statSync(target).dev, `${target} is no mount point on this machine`).not.toBe(
      fs.statSync('/dev').dev,
    );
    const { rt, backupId } = await backedUpHome('mount');
    const before = fs.readdirSync('/dev');
    const outcome = await restore(rt, { backupId, liferayHome: { target, swap: true } });
    expect(causeOf(outcome)).toContain(
      `the target ${target} is a mount point (a file system of its own): the restore stages the tree beside it on /dev's file system and cannot rename a mount point. Restore into a folder inside it (for example /dev/shm/restored)`,
    );
    // No staging folder beside it.
    expect(fs.readdirSync('/dev')).toEqual(before);
  });
});

describe('a target that is a symbolic link', () => {
  it('is refused before anything is written, naming the folder it points to', async () => {
    const { rt, backupId } = await backedUpHome('link');
    const real = path.join(work.dir, 'link', 'liferay-dxp-2024.q1.1');
    makeHome(real, 2, 'live');
    const target = path.join(work.dir, 'link', 'liferay');
    fs.symlinkSync(real, target);
    const outcome = await restore(rt, { backupId, liferayHome: { target, swap: true } });
    expect(causeOf(outcome)).toContain(
      `the target ${target} is a symbolic link (it points to ${real}: restore into that folder)`,
    );
    expect(fs.readdirSync(path.join(work.dir, 'link')).filter((name) => name.includes('.restore-'))).toEqual(
      [],
    );
  });
});

describe('swap and finalize (found in review)', () => {
  it('a Finalize retried after its answer was lost still reports what the swap carried over', async () => {
    const home = path.join(work.dir, 'retry', 'liferay');
    makeHome(home, 4);
    writeTree(home, {
      'tomcat-9.0.83/conf/server.xml': '<Server/>\n',
      'osgi/core/kernel.jar': 'core',
    });
    const store = new LocalFolderStore(path.join(work.dir, 'retry', 'store'));
    const rt = runtimeWith(store, { liferayHome: homeSettings(home) });
    const backupId = backupIdOf(await backup(rt));
    const finalize = losesFirstAnswer(finalizeRestore);
    const outcome = await restore(
      rt,
      { backupId, liferayHome: { swap: true } },
      { taskOverrides: { 'Liferay Home restore finalize': finalize.handler } },
    );
    expect(finalize.calls()).toBe(2);
    expect(outcome.status).toBe('SUCCEEDED');
    // The swap did carry Tomcat and osgi/core over...
    expect(fs.existsSync(path.join(home, 'tomcat-9.0.83/conf/server.xml'))).toBe(true);
    const result = (await restoreReport(store, restoreIdsOf(outcome))).results.liferayHome;
    const details = result?.details as unknown as HomeDetails;
    // ...and the report, written by the retry, says so (it used to list nothing).
    expect(details.carriedOver?.paths.sort()).toEqual(['osgi/core', 'tomcat-9.0.83']);
    expect(result?.warnings.join('\n')).toContain('kept from the live tree');
  });

  it('a swap keeps the empty folders of the live Tomcat (temp, logs) when an include rule uses **', async () => {
    const home = path.join(work.dir, 'globstar', 'liferay');
    makeHome(home, 4);
    writeTree(home, {
      'tomcat-9.0.83/conf/server.xml': '<Server/>\n',
      'data/keystore.jks': 'jks',
    });
    fs.mkdirSync(path.join(home, 'tomcat-9.0.83', 'temp'));
    fs.mkdirSync(path.join(home, 'tomcat-9.0.83', 'logs'));
    fs.chmodSync(path.join(home, 'tomcat-9.0.83', 'conf'), 0o750);
    const store = new LocalFolderStore(path.join(work.dir, 'globstar', 'store'));
    const rt = runtimeWith(store, { liferayHome: homeSettings(home, { include: ['**/*.jks'] }) });
    const backupId = backupIdOf(await backup(rt));
    const outcome = await restore(rt, { backupId, liferayHome: { swap: true } });
    expect(outcome.status).toBe('SUCCEEDED');
    const details = (await restoreReport(store, restoreIdsOf(outcome))).results.liferayHome
      ?.details as unknown as HomeDetails;
    expect(fs.readFileSync(path.join(home, 'tomcat-9.0.83/conf/server.xml'), 'utf8')).toBe('<Server/>\n');
    const where = (rel: string) =>
      fs.existsSync(path.join(home, rel))
        ? 'restored tree'
        : fs.existsSync(path.join(details.previousTree as string, rel))
          ? 'previous tree'
          : 'nowhere';
    expect({ temp: where('tomcat-9.0.83/temp'), logs: where('tomcat-9.0.83/logs') }).toEqual({
      temp: 'restored tree',
      logs: 'restored tree',
    });
  });
});
