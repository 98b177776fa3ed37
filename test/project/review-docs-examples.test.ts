import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupRequestSchema } from '#backup-set/begin-backup.ts';
import {
  listBackupIds,
  type Manifest,
  readManifest,
  writeLatest,
  writeManifest,
} from '#backup-set/manifest.ts';
import { retentionRequestSchema } from '#backup-set/retention.ts';
import { restoreRequestSchema, validateRestore } from '#backup-set/validate-restore.ts';
import { verifyRequestSchema } from '#backup-set/verify.ts';
import {
  type CliCommand,
  COMPONENT_NAMES,
  type ComponentName,
  type ComponentResult,
} from '#components/component.ts';
import { componentModule } from '#components/registry.ts';
import { credentialsSchema } from '#components/source/settings.ts';
import { main, parseCommand } from '#local/cli.ts';
import '#local/demo.ts';
import '#local/retention-command.ts';
import '#local/verify-command.ts';
import { localRuntime } from '#local/local-runtime.ts';
import { runWorkflow } from '#local/run-workflow.ts';
import { WORKFLOWS } from '#local/workflows.ts';
import type { Runtime } from '#runtime/runtime.ts';
import { parseSettings } from '#runtime/settings.ts';
import type { ContentStore } from '#store/content-store.ts';
import { LocalFolderStore } from '#store/local-folder-store.ts';
import { databaseValidateSettings } from '../../cdk/components/database.ts';
import { sourceValidateSettings } from '../../cdk/components/source.ts';
import { enabledComponents, type LiferayBackupConfig, parseConfig } from '../../cdk/config.ts';
import { snapshotResult } from '../components/database/rds-world.ts';
import { DETAILS as SEARCH_DETAILS } from '../components/search/fixtures.ts';
import { makeHome } from '../reliability/support.ts';
import { tempDir } from '../support/local-runtime.ts';
import {
  commandExamples,
  expandUsage,
  type JsonExample,
  jsonExamples,
  ROOT,
  type Snippet,
  shellWords,
} from './docs-examples.ts';

/**
 * What an SRE restoring Liferay at night copies from README.md and docs/readme/*.md must work as
 * written: every restore request, configuration snippet and command line is taken from the
 * markdown (a doc edit is checked) and put through the real code: the restore request schemas and
 * the Validate handler against real backup sets, the cdk.json parser, the CLI's own parsers.
 */

const JSON_EXAMPLES = jsonExamples();
const COMMANDS = commandExamples();

/**
 * Inline JSON the docs show that is neither a restore request nor a cdk.json setting, each with the
 * real schema of what it is given to. Keyed by its text: a key no longer in the docs fails below.
 */
const OTHER_INPUTS: Record<string, { what: string; check: (value: unknown) => unknown }> = {
  '{"full": true}': { what: 'a Backup execution input', check: (v) => backupRequestSchema.parse(v) },
  '{"dryRun": true}': { what: 'a Retention execution input', check: (v) => retentionRequestSchema.parse(v) },
  // `sourceCredentials` / `mirrorCredentials` values (source.md's list of repository keys).
  '{"tokenParameter": "/x"}': { what: 'source credentials', check: (v) => credentialsSchema.parse(v) },
  '{"username": "bot", "passwordParameter": "/y"}': {
    what: 'source credentials',
    check: (v) => credentialsSchema.parse(v),
  },
  // liferay-rules.md: a default exclude rule removed, in the Liferay Home's settings.
  '{"exclude": ["!data/elasticsearch*"]}': {
    what: "the Liferay Home's exclude rules",
    check: (v) =>
      parseConfig(
        mergeIntoTestConfig({ liferayHome: { enabled: true, path: '/liferay-home', ...(v as object) } }),
      ),
  },
  // `componentRpoHours`, e.g. {"database": 2}: merged into the test config under that key.
  '{"database": 2}': {
    what: 'componentRpoHours',
    check: (v) => parseConfig({ ...testConfig(), componentRpoHours: v }),
  },
};

/**
 * Examples that cannot be checked mechanically, with the reason. Keyed by text, as above. Not
 * examples at all, so not listed: a lone `"swap": true` or `"overwrite": true` in the prose names an
 * option of a request shown whole elsewhere.
 */
const SKIPPED: Record<string, string> = {
  // search.md: the body of Elasticsearch's own `PUT _snapshot/<repo>` API, not an input of ours.
  '{"type": "fs", "settings": {"location": "/mnt/snapshots"}}': "the search engine's API, not ours",
  // README "Restore from the Step Functions console", step 5: a reminder of the key, not a request.
  '{"components": ["search"]}': 'a key of the requests shown below it',
  // README "Capture hooks": the comment an SSM command carries, quoted to be recognised; not a command.
  'liferay-backup <phase> hook for <backup id>': 'a comment text, not a command line',
};

/** The Verify workflow's input, shown inline in the README's "Restore drills" (same shape as a restore's). */
const isVerifyInput = (example: JsonExample): boolean => {
  const [file = '', line = '0'] = example.where.split(':');
  const text = readFileSync(path.join(ROOT, file), 'utf8').split('\n')[Number(line) - 1] ?? '';
  return example.from === 'inline' && /\*\*Verify\*\* workflow/.test(text);
};

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const isComponent = (key: string): key is ComponentName =>
  (COMPONENT_NAMES as readonly string[]).includes(key);

type Kind = 'restore request' | 'restore option' | 'config' | 'other input' | 'verify input' | 'skipped';

function kindOf(example: JsonExample): Kind {
  const compact = JSON.stringify(example.value);
  if (Object.keys(SKIPPED).some((text) => JSON.stringify(tryParse(text)) === compact)) return 'skipped';
  if (Object.keys(OTHER_INPUTS).some((text) => JSON.stringify(tryParse(text)) === compact))
    return 'other input';
  if (isObject(example.value) && 'backupId' in example.value)
    return isVerifyInput(example) ? 'verify input' : 'restore request';
  // Inline `"liferayHome": { "skipLost": true }`: one component's part of a request.
  if (example.from === 'inline' && isObject(example.value) && Object.keys(example.value).every(isComponent))
    return 'restore option';
  return 'config';
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const byKind = (kind: Kind) => JSON_EXAMPLES.filter((example) => kindOf(example) === kind);
const REQUESTS = byKind('restore request');

// ---------------------------------------------------------------------------------------------
// cdk.json: the test config is the repository's own example; the docs' snippets merge into it.

const CDK_JSON = JSON.parse(readFileSync(path.join(ROOT, 'cdk.json'), 'utf8')) as {
  context: { liferayBackup: Record<string, unknown> };
};
const testConfig = (): Record<string, unknown> => structuredClone(CDK_JSON.context.liferayBackup);

/** `"…"`, `"..."`, `"sg-..."`: a value the reader fills in; the test fills it from the test config. */
const isPlaceholder = (value: unknown): boolean => typeof value === 'string' && /(…|\.\.\.)$/.test(value);

/** A key id for a KMS key ARN placeholder the test config has no value for. */
const STAND_IN_KEY_ID = '0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9';

function fillPlaceholders(value: unknown, base: unknown): unknown {
  if (isPlaceholder(value))
    return base ?? (value as string).replace(/:key\/(…|\.\.\.)$/, `:key/${STAND_IN_KEY_ID}`);
  if (Array.isArray(value))
    return value.map((item, i) => fillPlaceholders(item, Array.isArray(base) ? base[i] : undefined));
  if (isObject(value))
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        fillPlaceholders(item, isObject(base) ? base[key] : undefined),
      ]),
    );
  return value;
}

/**
 * A snippet as the docs say to use it: a component's `"name": {...}` replaces that component under
 * `components`; `"components": {...}` replaces the components it names; any other key replaces the
 * key of `liferayBackup`.
 */
function mergeIntoTestConfig(snippet: Record<string, unknown>): Record<string, unknown> {
  const config = testConfig();
  const components = { ...(config.components as Record<string, unknown>) };
  for (const [key, value] of Object.entries(snippet)) {
    if (isComponent(key)) components[key] = fillPlaceholders(value, components[key]);
    else if (key === 'components' && isObject(value))
      for (const [name, component] of Object.entries(value))
        components[name] = fillPlaceholders(component, components[name]);
    else config[key] = fillPlaceholders(value, config[key]);
  }
  return { ...config, components };
}

describe('the examples are found in the docs', () => {
  it('finds restore requests, cdk.json snippets and command lines in README.md and docs/readme', () => {
    expect(REQUESTS.length).toBeGreaterThanOrEqual(10);
    expect(byKind('config').length).toBeGreaterThanOrEqual(5);
    expect(COMMANDS.length).toBeGreaterThanOrEqual(20);
  });

  it('every JSON value of a ```json block parses', () => {
    const broken = JSON_EXAMPLES.filter((example) => example.value instanceof SyntaxError);
    expect(broken.map((example) => `${example.where}: ${example.text}`)).toEqual([]);
  });

  it('every entry of the special lists is still in the docs (a stale entry hides nothing)', () => {
    const texts = new Set(JSON_EXAMPLES.map((example) => JSON.stringify(example.value)));
    const commands = new Set(COMMANDS.map((command) => command.text));
    for (const text of [...Object.keys(OTHER_INPUTS), ...Object.keys(SKIPPED)])
      expect(texts.has(JSON.stringify(tryParse(text))) || commands.has(text), text).toBe(true);
  });
});

describe.each(byKind('config').map((example) => [example.where, example] as const))(
  'cdk.json snippet %s',
  (_where, example) => {
    it('is accepted by parseConfig, merged into the test config (cdk.json) as the doc shows it', () => {
      expect(isObject(example.value)).toBe(true);
      expect(() => parseConfig(mergeIntoTestConfig(example.value as Record<string, unknown>))).not.toThrow();
    });
  },
);

describe.each(byKind('other input').map((example) => [example.where, example] as const))(
  'inline input %s',
  (_where, example) => {
    const entry = Object.entries(OTHER_INPUTS).find(
      ([text]) => JSON.stringify(tryParse(text)) === JSON.stringify(example.value),
    )?.[1];
    it(`is ${entry?.what ?? '?'} its real schema accepts`, () => {
      expect(() => entry?.check(example.value)).not.toThrow();
    });
  },
);

describe.each(byKind('verify input').map((example) => [example.where, example] as const))(
  'Verify input %s',
  (_where, example) => {
    it('is accepted by the Verify workflow input schema', () => {
      expect(() => verifyRequestSchema.parse(example.value)).not.toThrow();
    });
  },
);

describe.each(byKind('restore option').map((example) => [example.where, example] as const))(
  'restore option %s',
  (_where, example) => {
    it("is accepted by each named component's restoreRequest schema", () => {
      for (const [name, options] of Object.entries(example.value as Record<string, unknown>)) {
        const parsed = componentModule(name as ComponentName)?.restoreRequest.safeParse(options);
        expect(parsed?.success, `${name}: ${JSON.stringify(parsed?.error?.issues)}`).toBe(true);
      }
    });
  },
);

// ---------------------------------------------------------------------------------------------
// Restore requests: the schemas, then the Validate handler against real sets.

const work = tempDir('review-docs-examples');
afterAll(() => work.cleanup());

/** The settings the stack gives the Validate Lambda (cdk/liferay-backup-stack.ts), from cdk.json. */
function validateRuntime(store: ContentStore, config: LiferayBackupConfig): Runtime {
  const enabled = enabledComponents(config);
  const settings = parseSettings(
    {
      environment: config.environment,
      lockTimeoutMinutes: config.backupTimeoutHours * 60 + 60,
      configuredComponents: enabled,
      components: {
        ...(enabled.includes('source') ? { source: sourceValidateSettings(config) } : {}),
        ...(enabled.includes('database') ? { database: databaseValidateSettings(config) } : {}),
      },
    },
    'the Validate Lambda',
  );
  return localRuntime({ store, settings });
}

/** The set's record of the source repository the docs' cdk.json example backs up. */
function sourceResult(config: LiferayBackupConfig): ComponentResult {
  const oid = 'a'.repeat(40);
  const configured = config.components.source as
    | { repositories: { name: string; sourceUrl: string; mirrorUrl: string; exclude?: string[] }[] }
    | undefined;
  const repositories = (configured?.repositories ?? []).map((repository) => ({
    name: repository.name,
    sourceUrl: repository.sourceUrl,
    mirrorUrl: repository.mirrorUrl,
    capturedAt: '2026-11-27T02:10:00.000Z',
    head: 'refs/heads/master',
    refs: { 'refs/heads/master': oid, 'refs/tags/7.4.3': oid },
    exclude: repository.exclude ?? [],
    prune: false,
    keptOnMirror: [],
    deletedOnMirror: [],
    stats: { created: 2, updated: 0, deleted: 0, packBytes: 100, packObjects: 3, storedBytes: 0, seconds: 1 },
    warnings: [],
    refCount: 2,
    recordKey: `backups/x/source/${repository.name}.json`,
  }));
  return { component: 'source', status: 'complete', warnings: [], summary: {}, details: { repositories } };
}

function manifestOf(
  backupId: string,
  status: Manifest['status'],
  results: Partial<Record<ComponentName, ComponentResult>>,
): Manifest {
  const day = `${backupId.slice(1, 5)}-${backupId.slice(5, 7)}-${backupId.slice(7, 9)}`;
  return {
    schemaVersion: 1,
    backupId,
    environment: 'liferay-prod',
    status,
    trigger: { source: 'schedule', schedule: 'nightly-full' },
    components: Object.keys(results) as ComponentName[],
    startedAt: `${day}T02:00:00.000Z`,
    finishedAt: `${day}T02:40:00.000Z`,
    tool: { name: 'liferay-backup', version: '0.1.0' },
    results,
    warnings: [],
  };
}

/**
 * The store the docs' requests are validated against: the files components backed up by the local
 * Backup workflow (real index, real manifest records), beside the records the database (RDS
 * snapshot with its DR copy), search and source components write (their servers cannot run here:
 * the records are the ones their own tests build), in one complete set under each backup id the
 * docs name, a partial one for a request with "allowPartial", and `latest` pointing at a complete set.
 */
let store: ContentStore;
let config: LiferayBackupConfig;
let fullResults: Partial<Record<ComponentName, ComponentResult>>;

beforeAll(async () => {
  config = parseConfig(testConfig());
  store = new LocalFolderStore(path.join(work.dir, 'store'));
  const home = path.join(work.dir, 'home');
  makeHome(home, 4);
  let t = new Date('2026-11-20T02:00:00Z').getTime();
  const backupRuntime = localRuntime({
    store,
    settings: parseSettings(
      {
        environment: 'liferay-prod',
        configuredComponents: ['liferayHome', 'appServer'],
        components: { liferayHome: { root: home }, appServer: { root: path.join(home, 'osgi') } },
      },
      'test',
    ),
    now: () => {
      t += 1000;
      return new Date(t);
    },
  });
  const outcome = await runWorkflow(WORKFLOWS.backup, { requestedBy: 'cli' }, backupRuntime);
  expect(outcome.status).toBe('SUCCEEDED');
  const [filesSet = ''] = await listBackupIds(store);
  const files = await readManifest(store, filesSet);
  const ids = [
    ...new Set(
      REQUESTS.map((example) => (example.value as { backupId?: unknown }).backupId).filter(
        (id): id is string => typeof id === 'string' && id !== 'latest',
      ),
    ),
  ].sort();
  const partialIds = new Set(
    REQUESTS.filter((example) => (example.value as { allowPartial?: unknown }).allowPartial === true).map(
      (example) => (example.value as { backupId: string }).backupId,
    ),
  );
  const results = (id: string): Partial<Record<ComponentName, ComponentResult>> => ({
    database: snapshotResult('rds-instance', id, { drCopy: true }),
    liferayHome: files.results.liferayHome,
    appServer: files.results.appServer,
    search: {
      component: 'search',
      status: 'complete',
      warnings: [],
      summary: {},
      details: { ...SEARCH_DETAILS },
    },
    source: sourceResult(config),
  });
  for (const id of ids) {
    if (partialIds.has(id))
      await writeManifest(
        store,
        manifestOf(id, 'partial', {
          ...results(id),
          database: { component: 'database', status: 'failed', warnings: [], summary: {}, details: {} },
        }),
      );
    else await writeManifest(store, manifestOf(id, 'complete', results(id)));
  }
  const latest = ids.filter((id) => !partialIds.has(id)).at(-1) ?? 'b20261127t020000z-7f3a';
  if (!ids.includes(latest)) await writeManifest(store, manifestOf(latest, 'complete', results(latest)));
  fullResults = results(latest);
  await writeLatest(store, latest, new Date('2026-11-27T03:00:00Z'));
}, 60_000);

describe.each(REQUESTS.map((example) => [example.where, example] as const))(
  'restore request %s',
  (_where, example) => {
    it('is accepted by the restore request schema and by each component it names', () => {
      const request = restoreRequestSchema.parse(example.value) as Record<string, unknown>;
      for (const name of COMPONENT_NAMES.filter((key) => request[key] !== undefined)) {
        const parsed = componentModule(name)?.restoreRequest.safeParse(request[name]);
        expect(parsed?.success, `${name}: ${JSON.stringify(parsed?.error?.issues)}`).toBe(true);
      }
    });

    it('is accepted by Validate against a set made by the local Backup workflow (cdk.json deployment)', async () => {
      const context = await validateRestore(example.value, validateRuntime(store, config));
      const request = example.value as { components?: string[] };
      if (request.components) expect(context.components).toEqual(request.components);
    });
  },
);

describe('Validate: a request without "components" that a component refuses says "components" is the list to write', () => {
  // Before: `{"backupId": "latest"}` in a deployment with source was refused with "... or leave
  // source out of "components"", a key the request did not have.
  it('names the selection it made and the key to give', async () => {
    const refused = await validateRestore({ backupId: 'latest' }, validateRuntime(store, config)).catch(
      (error: Error) => error,
    );
    expect(refused).toMatchObject({ name: 'InvalidInputError' });
    expect((refused as Error).message).toContain('source: name where to push the recorded refs');
    expect((refused as Error).message).toContain(
      '"components" was not given, so every complete component of the set that this deployment restores was selected (database, liferayHome, appServer, search, source): give "components" to restore only some',
    );
  });

  it('says nothing of the kind when "components" was given', async () => {
    const refused = await validateRestore(
      { backupId: 'latest', components: ['source'] },
      validateRuntime(store, config),
    ).catch((error: Error) => error);
    expect((refused as Error).message).not.toContain('"components" was not given');
  });
});

describe('README: a restore of "latest" that is a database-only set is refused, naming the set to take', () => {
  // "When hourly database-only sets run beside the nightly full one, latest is often a
  // database-only set: the request is then refused before anything is touched, and the refusal
  // names the newest complete set holding all three; start it again with that "backupId"".
  const shortVersion = REQUESTS.find((example) => {
    const { backupId, components = [] } = example.value as { backupId: string; components?: string[] };
    return (
      example.where.startsWith('README.md') &&
      backupId === 'latest' &&
      components.length === 3 &&
      ['database', 'liferayHome', 'appServer'].every((name) => components.includes(name))
    );
  });

  it('the short version shows such a request', () => {
    expect(shortVersion?.where).toBeDefined();
  });

  it('is refused with the newest complete set holding all three, and that "backupId" is accepted', async () => {
    const hourly = new LocalFolderStore(path.join(work.dir, 'hourly-store'));
    const full = 'b20261127t020000z-7f3a';
    const databaseOnly = 'b20261127t063000z-0d0b';
    await writeManifest(hourly, manifestOf(full, 'complete', fullResults));
    await writeManifest(
      hourly,
      manifestOf(databaseOnly, 'complete', {
        database: snapshotResult('rds-instance', databaseOnly, { drCopy: true }),
      }),
    );
    await writeLatest(hourly, databaseOnly, new Date('2026-11-27T07:00:00Z'));

    const refused = await validateRestore(shortVersion?.value, validateRuntime(hourly, config)).catch(
      (error: Error) => error,
    );
    expect(refused).toMatchObject({ name: 'InvalidInputError' });
    expect((refused as Error).message).toContain(
      `the newest complete set holding database, liferayHome, appServer is ${full}`,
    );
    expect((refused as Error).message).toContain(`give "backupId": "${full}"`);

    const again = { ...(shortVersion?.value as object), backupId: full };
    await expect(validateRestore(again, validateRuntime(hourly, config))).resolves.toMatchObject({
      backupId: full,
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Command lines: each parsed by the CLI's own parser (the command's flags, with every component's
// ComponentModule.local.options), never run: `--help` is added, so a line the parser accepts prints
// its usage and exits 0, and an unknown flag, a flag of another command, a value missing or given
// to a switch exits 2 naming it.

function quietStderr(): NodeJS.WriteStream {
  return { isTTY: false, columns: 100, write: () => true } as unknown as NodeJS.WriteStream;
}

async function parsedByCli(words: string[]): Promise<{ code: number; stdout: string }> {
  const lines: string[] = [];
  const code = await main([...words, '--help'], { out: (line) => lines.push(line), err: quietStderr() });
  return { code, stdout: lines.join('\n') };
}

const PACKAGE = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
};

/** The flags bench/run.ts's parseArgs takes (its options are local to its main: read from the source). */
function benchFlags(): string[] {
  const source = readFileSync(path.join(ROOT, 'bench/run.ts'), 'utf8');
  const options = /parseArgs\(\{\s*options:\s*\{([\s\S]*?)\n\s*\},\s*\}\)/.exec(source)?.[1] ?? '';
  return [...options.matchAll(/^\s*'?([a-z][a-z-]*)'?:\s*\{\s*type:/gm)].map((match) => `--${match[1]}`);
}

/** Positional arguments, as the commands that take flags from ComponentModule.local read them. */
const POSITIONALS: Partial<Record<CliCommand, number>> = { backup: 0, restore: 1 };

describe('the command line checks can fail', () => {
  it('a misspelt flag, a flag of another command, a switch given a value: exit 2', async () => {
    for (const words of [
      ['restore', 'latest', '--to', 'DIR', '--swapp'],
      ['restore', 'latest', '--to', 'DIR', '--pre-hook', 'CMD'],
      ['backup', '--home'],
      ['list', '--dry-run'],
      ['retention', '--scratch', 'DIR'],
    ])
      expect((await parsedByCli(words)).code, words.join(' ')).toBe(2);
  });

  it('expands optional groups, alternatives and nested groups, and leaves value placeholders alone', () => {
    expect(expandUsage(shellWords('x a [--b B | --c] [--d D [--e]] --f [w=]u [--g p|q]'))).toEqual([
      ['x', 'a', '--f', '[w=]u'],
      ['x', 'a', '--b', 'B', '--d', 'D', '--e', '--f', '[w=]u', '--g', 'p|q'],
      ['x', 'a', '--c', '--d', 'D', '--e', '--f', '[w=]u', '--g', 'p|q'],
    ]);
  });
});

const CLI_COMMANDS = COMMANDS.filter((command) => !SKIPPED[command.text]);

describe.each(CLI_COMMANDS.map((command) => [command.where, command] as const))(
  'command line %s',
  (_where, command: Snippet) => {
    it.each(expandUsage(shellWords(command.text)).map((words) => [words.join(' '), words] as const))(
      '%s',
      async (_line, words) => {
        const [program = '', ...args] = words;
        if (program === 'npm') {
          const [verb, script = 'start', ...rest] = args;
          const name = verb === 'start' ? 'start' : script;
          expect(PACKAGE.scripts[name], `package.json has no script "${name}"`).toBeDefined();
          const flags = rest[0] === '--' ? rest.slice(1) : rest;
          if (name === 'bench')
            expect(benchFlags()).toEqual(expect.arrayContaining(flags.filter((f) => f.startsWith('-'))));
          else expect(flags).toEqual([]);
          return;
        }
        const result = await parsedByCli(args);
        expect(result.code, result.stdout).toBe(0);
        expect(result.stdout).toMatch(/usage: liferay-backup/);
        const [name = '', ...rest] = args;
        const expected = POSITIONALS[name as CliCommand];
        if (expected !== undefined)
          expect(parseCommand(name as CliCommand, rest).positionals, 'positional arguments').toHaveLength(
            expected,
          );
      },
    );
  },
);
