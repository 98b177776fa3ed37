import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readManifest, TOOL, writeManifest } from '#backup-set/manifest.ts';
import { main } from '#local/cli.ts';
import '#local/retention-command.ts';
import '#local/verify-command.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { parseConfig } from '../../cdk/config.ts';
import { tempDir } from '../support/local-runtime.ts';
import {
  backup,
  backupIdOf,
  homeSettings,
  listTree,
  makeHome,
  restore,
  runtimeWith,
  storeSnapshot,
} from './support.ts';

/**
 * Malformed and hostile input at the edges people and schedules use: restore requests and backup
 * requests (through the Restore and Backup workflows), the deployment configuration (parseConfig,
 * what `cdk synth` runs), and CLI flags (the CLI's main). Each is refused with a message that
 * names the problem, and changes nothing: the store and the target folder are as they were.
 */

const work = tempDir('bad-input-requests');
const home = path.join(work.dir, 'home');
const storeDir = path.join(work.dir, 'store');
const target = path.join(work.dir, 'target');
const store = new LocalFolderStore(storeDir);
let rt: Runtime;
let backupId = '';
let partialId = '';
let runningId = '';

beforeAll(async () => {
  makeHome(home, 8);
  rt = runtimeWith(store, { liferayHome: homeSettings(home) });
  backupId = backupIdOf(await backup(rt));
  const manifest = await readManifest(store, backupId);
  // A partial set and a set still running, as the store holds them after such runs.
  partialId = backupId.replace(/-[0-9a-f]{4}$/, '-0001');
  runningId = backupId.replace(/-[0-9a-f]{4}$/, '-0002');
  const failedHome = {
    component: 'liferayHome' as const,
    status: 'failed' as const,
    warnings: [],
    summary: {},
    details: {},
  };
  await writeManifest(store, {
    ...manifest,
    backupId: partialId,
    status: 'partial',
    components: ['liferayHome'],
    results: { liferayHome: failedHome },
  });
  await writeManifest(store, {
    ...manifest,
    backupId: runningId,
    status: 'running',
    results: {},
    tool: TOOL,
  });
  fs.mkdirSync(target);
  fs.writeFileSync(path.join(target, 'live.txt'), 'the live tree');
});
afterAll(() => work.cleanup());

/** Runs the request through the Restore workflow; returns what the person sees (the failure's cause). */
async function refusedRestore(request: unknown): Promise<string> {
  const before = await storeSnapshot(store);
  const outcome = await restore(rt, request as Record<string, unknown>, {});
  expect(outcome.status).toBe('FAILED');
  if (outcome.status !== 'FAILED') return '';
  expect(outcome.error).toBe('InvalidInputError');
  // Refused at Validate: nothing was written anywhere.
  expect(outcome.statesEntered).not.toContain('Restore');
  expect(await storeSnapshot(store)).toEqual(before);
  expect(listTree(target)).toEqual(['live.txt']);
  expect(fs.readdirSync(work.dir).sort()).toEqual(['home', 'store', 'target']);
  return outcome.cause;
}

describe('restore requests (Restore workflow, Validate)', () => {
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['no backupId', () => ({ liferayHome: { target } }), /invalid restore request: backupId: /],
    ['backupId of the wrong type', () => ({ backupId: 42 }), /invalid restore request: backupId: /],
    [
      'a backupId that is a path',
      () => ({ backupId: '../../pointers/latest' }),
      /backupId: .*not a backup id \(expected the form b20261127t020000z-7f3a\)/,
    ],
    [
      'a well-formed id of no set',
      () => ({ backupId: 'b20200101t000000z-dead' }),
      /backupId b20200101t000000z-dead: no such backup set in /,
    ],
    [
      'an unknown component',
      () => ({ backupId, components: ['liferayHome', 'ldap'] }),
      /components\.1: unknown component "ldap"; allowed: database, liferayHome, appServer, search, source/,
    ],
    [
      'a misspelt key',
      () => ({ backupId, liferayhome: { target } }),
      /unknown key\(s\) liferayhome; allowed: /,
    ],
    ['allowPartial of the wrong type', () => ({ backupId, allowPartial: 'yes' }), /allowPartial: /],
    [
      'a component the set does not hold',
      () => ({ backupId, components: ['database'] }),
      /database: not configured in this deployment/,
    ],
    [
      'a relative target',
      () => ({ backupId, liferayHome: { target: 'restored/home' } }),
      /liferayHome\.target: an absolute, normalised path/,
    ],
    [
      'a target with .. segments',
      () => ({ backupId, liferayHome: { target: `${target}/../../etc` } }),
      /liferayHome\.target: an absolute, normalised path \(no \. or \.\. segments/,
    ],
    [
      'a path glob that climbs out',
      () => ({ backupId, liferayHome: { target, path: '../../etc/**' } }),
      /liferayHome\.path: a path or glob relative to the root of the tree, without \.\. segments/,
    ],
    [
      'an absolute path glob',
      () => ({ backupId, liferayHome: { target, path: '/etc/passwd' } }),
      /liferayHome\.path: a path or glob relative to the root of the tree/,
    ],
    [
      'swap with a path',
      () => ({ backupId, liferayHome: { target, swap: true, path: 'data/**' } }),
      /liferayHome: swap replaces the whole tree, so it cannot be combined with path/,
    ],
    [
      'an unknown option of a component',
      () => ({ backupId, liferayHome: { target, overwriteEverything: true } }),
      /liferayHome: Unrecognized key: "overwriteEverything"/,
    ],
    [
      'an oversized field',
      () => ({ backupId, liferayHome: { target, path: `data/${'x'.repeat(5000)}` } }),
      /liferayHome\.path: Too big: expected string to have <=1024 characters/,
    ],
    [
      'options for a component that is not restored',
      () => ({ backupId, components: ['liferayHome'], liferayHome: { target }, appServer: { target } }),
      // The set holds no appServer (its backup skipped it): adding it to "components" would not help.
      /appServer: options were given, but backup set \S+ holds no complete copy of it \(skipped\): leave them out, or restore another set/,
    ],
    [
      'a partial set without allowPartial',
      () => ({ backupId: partialId, liferayHome: { target } }),
      /backup set \S+-0001 is partial; set "allowPartial": true to restore the components it holds/,
    ],
    [
      'a set that is still running',
      () => ({ backupId: runningId, liferayHome: { target } }),
      /backup set \S+-0002 is running; only complete \(or, with allowPartial, partial\) sets can be restored/,
    ],
  ];
  it.each(cases)('%s', async (_name, request, expected) => {
    expect(await refusedRestore(request())).toMatch(expected);
  });

  it('"latest" in a store without a complete set', async () => {
    const empty = new LocalFolderStore(path.join(work.dir, 'empty-store'));
    const outcome = await restore(runtimeWith(empty, { liferayHome: homeSettings(home) }), {
      backupId: 'latest',
    });
    expect(outcome.status === 'FAILED' ? outcome.cause : '').toBe(
      'invalid restore request: backupId "latest": there is no complete backup set yet',
    );
    expect(fs.existsSync(path.join(work.dir, 'empty-store'))).toBe(false);
    fs.rmSync(path.join(work.dir, 'empty-store'), { recursive: true, force: true });
  });
});

describe('backup requests (Backup workflow, Begin)', () => {
  const cases: Array<[string, unknown, RegExp]> = [
    [
      'a component this deployment does not configure',
      { components: ['search'] },
      /components not configured in this deployment: search; configured: liferayHome/,
    ],
    [
      'an unknown component',
      { components: ['ldap'] },
      /invalid backup request: components\.0: unknown component "ldap"/,
    ],
    ['no component at all', { components: [] }, /invalid backup request: components: Too small/],
    ['an oversized schedule name', { schedule: 'x'.repeat(65) }, /invalid backup request: schedule: Too big/],
    [
      'an unknown trigger',
      { requestedBy: 'attacker' },
      /invalid backup request: requestedBy: Invalid option/,
    ],
    [
      'an unknown key',
      { components: ['liferayHome'], force: true },
      /invalid backup request: \(root\): Unrecognized key: "force"/,
    ],
    [
      'not an object',
      ['liferayHome'],
      /invalid backup request: \(root\): Invalid input: expected object, received array/,
    ],
  ];
  it.each(cases)('%s', async (_name, request, expected) => {
    const before = await storeSnapshot(store);
    const outcome = await backup(rt, {}, request);
    expect(outcome.status === 'FAILED' ? `${outcome.error}: ${outcome.cause}` : 'SUCCEEDED').toMatch(
      new RegExp(`^InvalidInputError: ${expected.source.replace(/^\^/, '')}`),
    );
    expect(await storeSnapshot(store)).toEqual(before);
  });
});

describe('deployment configuration (parseConfig, as cdk synth runs it)', () => {
  const base = {
    environment: 'liferay-prod',
    account: '111111111111',
    region: 'eu-west-1',
    network: {
      vpcId: 'vpc-0a1b2c3d4e5f60718',
      availabilityZones: ['eu-west-1a'],
      subnetIds: ['subnet-0a1b2c3d4e5f60718'],
      securityGroupId: 'sg-0a1b2c3d4e5f60718',
    },
    efs: { fileSystemId: 'fs-0a1b2c3d4e5f60718', accessPointId: 'fsap-0a1b2c3d4e5f60718' },
    components: {
      liferayHome: { enabled: true, path: '/liferay' },
      database: { enabled: true, mode: 'rds-instance', identifier: 'liferay-db' },
    },
  };
  const schedule = (name: string, expression: string, extra: Record<string, unknown> = {}) => ({
    name,
    expression,
    ...extra,
  });
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    [
      'an environment name with capitals',
      { environment: 'Liferay_Prod' },
      /liferayBackup\.environment: lower-case letters/,
    ],
    ['a misspelt top-level key', { retentoin: {} }, /liferayBackup: Unrecognized key: "retentoin"/],
    [
      'a wrong type',
      { logRetentionDays: '90' },
      /liferayBackup\.logRetentionDays: Invalid input: expected number, received string/,
    ],
    [
      'a bad VPC id',
      { network: { ...base.network, vpcId: 'vpc-xyz' } },
      /liferayBackup\.network\.vpcId: a VPC id like vpc-0123456789abcdef0/,
    ],
    [
      'a KMS alias where a key ARN is needed',
      {
        components: {
          ...base.components,
          database: {
            enabled: true,
            mode: 'rds-instance',
            identifier: 'liferay-db',
            drRegion: 'eu-central-1',
            drKmsKeyArn: 'arn:aws:kms:eu-central-1:111111111111:alias/backups',
          },
        },
      },
      /liferayBackup\.components\.database\.drKmsKeyArn: a KMS key ARN/,
    ],
    [
      'an unknown component',
      { components: { ...base.components, ldap: { enabled: true } } },
      /liferayBackup\.components: Unrecognized key: "ldap"/,
    ],
    [
      'a schedule for a component that is not enabled',
      { schedules: [schedule('nightly', 'cron(0 2 * * ? *)', { components: ['search'] })] },
      /liferayBackup\.schedules\.0\.components: component search is not enabled under components/,
    ],
    [
      'two schedules with one name',
      { schedules: [schedule('nightly', 'cron(0 2 * * ? *)'), schedule('nightly', 'cron(0 3 * * ? *)')] },
      /liferayBackup\.schedules: schedule name nightly is used twice/,
    ],
    [
      'a schedule that is not an EventBridge expression',
      { schedules: [schedule('nightly', '0 2 * * *')] },
      /liferayBackup\.schedules\.0\.expression: an EventBridge Scheduler expression/,
    ],
    [
      'two schedules that always fire at the same minute',
      { schedules: [schedule('nightly', 'cron(0 2 * * ? *)'), schedule('database', 'cron(0 2 * * ? *)')] },
      /liferayBackup\.schedules\.1\.expression: fires at the same minute as schedule nightly \(02:00 every day, UTC\)/,
    ],
    [
      'an hourly schedule that meets the nightly one',
      {
        schedules: [
          schedule('nightly-full', 'cron(0 2 * * ? *)', { timezone: 'Europe/Madrid' }),
          schedule('hourly-database', 'cron(0 * * * ? *)', {
            timezone: 'Europe/Madrid',
            components: ['database'],
          }),
        ],
      },
      /liferayBackup\.schedules\.1\.expression: fires at the same minute as schedule nightly-full \(02:00 every day, Europe\/Madrid\)/,
    ],
    [
      'a weekly schedule at the nightly time',
      {
        schedules: [
          schedule('nightly', 'cron(0 2 * * ? *)'),
          schedule('weekly-archive', 'cron(0 2 ? * SUN *)'),
        ],
      },
      /liferayBackup\.schedules\.1\.expression: fires at the same minute as schedule nightly \(02:00 on each day both run, UTC\)/,
    ],
    [
      'a time zone that does not exist',
      { schedules: [schedule('nightly', 'cron(0 2 * * ? *)', { timezone: 'Mars/Olympus_Mons' })] },
      /liferayBackup\.schedules\.0\.timezone: an IANA time zone like Europe\/Madrid or UTC/,
    ],
    [
      'a grace period shorter than a backup may run',
      { retention: { graceHours: 12 }, backupTimeoutHours: 23 },
      /liferayBackup\.retention\.graceHours: must be longer than backupTimeoutHours \(23\)/,
    ],
    [
      'an unknown Object Lock mode',
      { objectLock: { mode: 'STRICT', days: 30 } },
      /liferayBackup\.objectLock\.mode: Invalid option/,
    ],
    ['no component enabled', { components: {} }, /liferayBackup\.components: enable at least one component/],
  ];
  it.each(cases)('%s', (_name, change, expected) => {
    expect(() => parseConfig({ ...base, ...change })).toThrow(expected);
  });

  it('the base configuration itself is accepted (so each case fails for its own reason)', () => {
    expect(parseConfig(base).environment).toBe('liferay-prod');
    expect(
      parseConfig({
        ...base,
        schedules: [
          schedule('nightly-full', 'cron(0 2 * * ? *)', { timezone: 'Europe/Madrid' }),
          schedule('hourly-database', 'cron(30 * * * ? *)', {
            timezone: 'Europe/Madrid',
            components: ['database'],
          }),
        ],
      }).schedules,
    ).toHaveLength(2);
  });
});

describe('CLI flags (liferay-backup)', () => {
  // Backups go to a folder that must never be created; restores read the fixture store, unchanged.
  const fresh = (name: string) => ['--store', path.join(work.dir, `cli-store-${name}`)];
  const fixture = ['--store', storeDir];
  const cases: Array<[string, string[], RegExp]> = [
    [
      'restore without an id',
      ['restore', '--to', target, ...fixture],
      /^error: restore needs one backup id or "latest"/,
    ],
    [
      'an unknown component',
      ['backup', '--home', home, '--components', 'liferayHome,ldap', ...fresh('components')],
      /^error: --components: unknown ldap; allowed: database, liferayHome, appServer, search, source$/,
    ],
    [
      'an unknown flag',
      ['backup', '--home', home, '--encrypt-with', 'rot13', ...fresh('flag')],
      /^error: Unknown option '--encrypt-with'/,
    ],
    [
      '--database-overwrite without a target',
      ['restore', 'latest', '--to', target, '--database-overwrite', ...fixture],
      /^error: --database-overwrite needs --database-url \(the target\)$/,
    ],
    [
      'both a folder and a bucket',
      ['backup', '--home', home, '--bucket', 'b', ...fresh('bucket')],
      /^error: give either --store DIR or --bucket NAME, not both$/,
    ],
    [
      'a search URL that is not one (its password not echoed)',
      ['backup', '--home', home, '--search-url', 'http://elastic:hunter2@[::1', ...fresh('search-url')],
      /^error: --search-url: not a URL \(expected http\(s\):\/\/\[user:password@\]host:port\)$/,
    ],
    [
      'a database URL with an unknown scheme (its password not echoed)',
      [
        'backup',
        '--home',
        home,
        '--database-url',
        'oracle://sys:hunter2@db:1521/lportal',
        ...fresh('db-url'),
      ],
      /^error: --database-url oracle:\/\/sys:\*\*\*@db:1521\/lportal: scheme must be mysql:\/\/, mariadb:\/\/ or postgresql:\/\/$/,
    ],
    [
      'a Git pair without a mirror',
      ['backup', '--git', 'https://git.example.com/a.git', ...fresh('git')],
      /^error: --git https:\/\/git\.example\.com\/a\.git: expected SOURCE_URL=MIRROR_URL/,
    ],
    [
      'nothing to back up',
      ['backup', ...fresh('nothing')],
      /^error: nothing to back up: give --home DIR \(Liferay Home\)/,
    ],
    [
      'a restore path that climbs out',
      ['restore', 'latest', '--to', target, '--path', '../../etc', ...fixture],
      /^restore failed: InvalidInputError: invalid restore request: liferayHome\.path: a path or glob relative to the root of the tree, without \.\. segments$/,
    ],
    [
      'a drill of a component the set does not hold',
      ['verify', 'latest', '--components', 'database', ...fixture],
      /^verification failed: InvalidInputError: invalid verify request: set \S+ holds no complete database$/,
    ],
    [
      'a drill of an unknown component',
      ['verify', 'latest', '--components', 'ldap', ...fixture],
      /^verification failed: InvalidInputError: invalid verify request: components\.0: unknown component "ldap"/,
    ],
    [
      'a retention count that is not a number',
      ['retention', '--daily', 'seven', ...fresh('retention')],
      /^error: --daily must be a whole number, got seven/,
    ],
  ];
  it.each(cases)('%s', async (_name, args, expected) => {
    const before = await storeSnapshot(store);
    const lines: string[] = [];
    const code = await main(args, { out: (line) => lines.push(line), err: process.stderr });
    const output = lines.join('\n');
    expect(output).toMatch(expected);
    expect(output).not.toContain('hunter2');
    // Bad input, whether a flag or a request the workflow refused: 2, as the README says.
    expect(code, output).toBe(2);
    expect(fs.readdirSync(work.dir).filter((name) => name.startsWith('cli-store-'))).toEqual([]);
    expect(await storeSnapshot(store)).toEqual(before);
    expect(listTree(target)).toEqual(['live.txt']);
  });
});
