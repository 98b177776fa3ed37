import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeEngines } from '#components/search/connect.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { diffTrees, readTree } from '../components/files/support/trees.ts';
import { richRepository } from '../components/source/git-fixtures.ts';
import { type DatabaseServer, startMariaDb } from '../support/database-servers.ts';
import { forEachRef, type GitHttpServer, startGitHttpServer } from '../support/git-http-server.ts';
import { tempDir } from '../support/local-runtime.ts';
import { SearchEngineStandIn } from '../support/search-engine-server.ts';
import {
  backup,
  backupIdOf,
  homeSettings,
  makeHome,
  outputOf,
  restore,
  restoreIdsOf,
  restoreReport,
  runtimeWith,
  writeTree,
} from './support.ts';

const work = tempDir('review-restore-runbook');
let db: DatabaseServer;
let git: GitHttpServer;
let search: SearchEngineStandIn;

beforeAll(async () => {
  process.env.LIFERAY_BACKUP_GIT_PASSWORD = 'secret';
  [db, git, search] = await Promise.all([
    startMariaDb(),
    startGitHttpServer(),
    SearchEngineStandIn.start({
      flavour: 'elasticsearch',
      version: '8.15.0',
      indices: {
        'liferay-0': { docs: 10 },
        'liferay-20097': { docs: 50 },
        'liferay-20097-search-tuning-rankings': { docs: 3 },
        'liferay-20097-workflow-metrics-sla-task-results': { docs: 4 },
      },
    }),
  ]);
  search.repositories.set('liferay-backup', { type: 'fs', settings: { location: '/snapshots' } });
  search.snapshots.set('liferay-backup', new Map());
  db.admin('CREATE DATABASE lportal');
  db.admin('CREATE TABLE Company (companyId BIGINT PRIMARY KEY, webId VARCHAR(75))', 'lportal');
  db.admin("INSERT INTO Company VALUES (20097, 'liferay.com')", 'lportal');
}, 120_000);
afterAll(async () => {
  await closeEngines();
  await Promise.all([db?.stop(), git?.close(), search?.stop()]);
  work.cleanup();
});

const credentials = { passwordEnv: 'LIFERAY_BACKUP_GIT_PASSWORD', username: 'git' };

async function deployment(name: string) {
  const home = path.join(work.dir, name, 'liferay');
  const tomcat = path.join(home, 'tomcat-9.0.83');
  makeHome(home, 12);
  writeTree(tomcat, {
    'conf/server.xml': '<Server port="8005"/>\n',
    'bin/setenv.sh': 'CATALINA_OPTS="-Xmx4g"\n',
    'webapps/ROOT/WEB-INF/web.xml': '<web-app/>\n',
  });
  const repo = `${name}-workspace`;
  const sourcePath = await git.createBareRepo(`${repo}-source.git`);
  await git.createBareRepo(`${repo}-mirror.git`);
  await (await richRepository()).pushMirror(sourcePath);
  const store = new LocalFolderStore(path.join(work.dir, name, 'store'));
  const rt = runtimeWith(store, {
    database: { mode: 'dump', url: db.url('lportal'), waitIntervalSeconds: 1 },
    liferayHome: homeSettings(home),
    appServer: homeSettings(tomcat),
    search: {
      engine: 'elasticsearch',
      endpoint: search.url,
      credentials: { type: 'none' },
      repository: { name: 'liferay-backup' },
      waitSeconds: 0,
      maxChecks: 5,
    },
    source: {
      repositories: [
        {
          name: repo,
          sourceUrl: git.repoUrl(`${repo}-source.git`),
          mirrorUrl: git.repoUrl(`${repo}-mirror.git`),
          storeCopy: true,
        },
      ],
      defaultCredentials: credentials,
    },
  });
  const outcome = await backup(rt);
  outputOf(outcome);
  return { home, tomcat, store, rt, repo, backupId: backupIdOf(outcome) };
}

/** The five components' results in a report, as status and error name. */
function statuses(report: Awaited<ReturnType<typeof restoreReport>>) {
  return Object.fromEntries(
    Object.entries(report.results).map(([name, result]) => [name, result?.error?.name ?? result?.status]),
  );
}

describe('the "Liferay is down" restore of every component (found in review)', () => {
  it('restores all five; the app server, inside the Liferay Home, is restored after it and in it', async () => {
    // Prepare: the disaster damaged both live trees.
    const d = await deployment('all');
    const home = readTree(d.home);
    fs.writeFileSync(path.join(d.home, 'portal-ext.properties'), 'damaged\n');
    fs.writeFileSync(path.join(d.tomcat, 'conf', 'server.xml'), 'damaged\n');
    const target = await git.createBareRepo(`${d.repo}-target.git`);

    // Act: the runbook's request, with search and source.
    const outcome = await restore(d.rt, {
      backupId: 'latest',
      components: ['database', 'liferayHome', 'appServer', 'search', 'source'],
      liferayHome: { swap: true },
      appServer: { swap: true },
      search: { indexes: 'primary', onConflict: 'rename' },
      source: { targets: [{ repository: d.repo, url: git.repoUrl(`${d.repo}-target.git`), credentials }] },
    });

    // Assess
    const { report } = outputOf<{ report: { status: string; message: string } }>(outcome);
    expect(report.status).toBe('complete');
    const ids = restoreIdsOf(outcome);
    const written = await restoreReport(d.store, ids);
    expect(statuses(written)).toEqual({
      database: 'complete',
      liferayHome: 'complete',
      appServer: 'complete',
      search: 'complete',
      source: 'complete',
    });
    // The live trees as they were backed up; the app server's previous tree is kept beside it, in the home.
    expect(
      diffTrees(home, readTree(d.home)).filter(
        (line) => !line.includes(`tomcat-9.0.83.before-${ids.restoreId}`),
      ),
    ).toEqual([]);
    expect(
      fs.readFileSync(path.join(d.home, `tomcat-9.0.83.before-${ids.restoreId}/conf/server.xml`), 'utf8'),
    ).toBe('damaged\n');
    expect(written.results.database?.summary.database).toBe(`lportal_${ids.restoreId.replace(/-/g, '_')}`);
    expect(Object.keys(await forEachRef(target)).length).toBe(written.results.source?.summary.refs);
  });

  it('one component failing: the execution is red, the message names the problem, what to change and where the others went; the same request again converges', async () => {
    // Prepare: the live search indexes exist (the default onConflict is "fail").
    const d = await deployment('partial');
    await git.createBareRepo(`${d.repo}-target.git`);
    fs.writeFileSync(path.join(d.home, 'portal-ext.properties'), 'damaged\n');
    const request = {
      backupId: 'latest',
      components: ['database', 'liferayHome', 'appServer', 'search', 'source'],
      liferayHome: { swap: true },
      appServer: { swap: true },
      source: { targets: [{ repository: d.repo, url: git.repoUrl(`${d.repo}-target.git`), credentials }] },
    };

    // Act
    const first = await restore(d.rt, request);

    // Assess: red, search named with the way out, the others restored and said where.
    expect(first.status === 'FAILED' ? first.error : first.status).toBe('RestorePartial');
    const ids = restoreIdsOf(first);
    const report = await restoreReport(d.store, ids);
    expect(statuses(report)).toEqual({
      database: 'complete',
      liferayHome: 'complete',
      appServer: 'complete',
      search: 'SearchRestoreConflictError',
      source: 'complete',
    });
    const cause = first.status === 'FAILED' ? first.cause : '';
    expect(cause).toContain(
      'search: SearchRestoreConflictError: index liferay-20097-search-tuning-rankings exists',
    );
    expect(cause).toContain('choose "onConflict" (CLI: --search-on-conflict): "rename"');
    // The new database is where Liferay must be pointed: a red execution has no output but this.
    expect(cause).toMatch(/database → database lportal_r\S+ \(/);
    expect(cause).toContain(`(${report.results.database?.summary.target})`);
    expect(cause).toContain(`at the database`);
    expect(cause).toContain(`liferayHome → ${d.home}`);
    expect(fs.readFileSync(path.join(d.home, 'portal-ext.properties'), 'utf8')).not.toBe('damaged\n');

    // Act: the same request again, with the change the message asked for.
    const second = await restore(d.rt, {
      ...request,
      search: { onConflict: 'rename', renamePrefix: 'again-' },
    });

    // Assess
    expect(second.status === 'FAILED' ? second.cause : second.status).toBe('SUCCEEDED');
    const again = await restoreReport(d.store, restoreIdsOf(second));
    expect(again.results.source?.warnings.join('\n')).toContain('already held 6 of the 6 ref(s)');
    expect(fs.readFileSync(path.join(d.tomcat, 'conf/server.xml'), 'utf8')).toBe('<Server port="8005"/>\n');
  });
});
