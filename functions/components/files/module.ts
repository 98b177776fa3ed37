import { statSync } from 'node:fs';
import * as path from 'node:path';
import picomatch from 'picomatch';
import type {
  CliCommand,
  ComponentModule,
  ComponentResult,
  LocalOptions,
  RestoreTargetsInput,
} from '#components/component.ts';
import { InvalidInputError } from '#runtime/errors.ts';
import type { Handler } from '#runtime/runtime.ts';
import { nonEmptyString } from '#runtime/validate.ts';
import { finalizeBackup } from './backup-finalize.ts';
import { planBackup } from './backup-plan.ts';
import { copyShard } from './copy-shard.ts';
import { drillCleanup } from './drill-scratch.ts';
import { finalizeRestore } from './restore-finalize.ts';
import { planRestore } from './restore-plan.ts';
import { restoreShard } from './restore-shard.ts';
import { filesRetention } from './retention.ts';
import {
  type FilesComponentName,
  type FilesRestoreRequest,
  filesRestoreRequestSchema,
  filesResultDetailsSchema,
  filesSettingsSchema,
} from './settings.ts';
import { finishVerify, planVerify, verifyFiles, verifyIndexPart } from './verify.ts';

/**
 * The files engine's tasks. Both components (liferayHome, appServer) run the same code, told
 * apart by the `component` field of each event, so the handlers are registered once (under
 * liferayHome; handler ids are unique across the build).
 */
export const FILES_HANDLERS: Readonly<Record<string, Handler>> = {
  'files-plan-backup': planBackup,
  'files-copy-shard': copyShard,
  'files-finalize-backup': finalizeBackup,
  'files-plan-restore': planRestore,
  'files-restore-shard': restoreShard,
  'files-finalize-restore': finalizeRestore,
  'files-plan-verify': planVerify,
  'files-verify-part': verifyIndexPart,
  'files-finish-verify': finishVerify,
  'files-drill-cleanup': drillCleanup,
};

/** Validate (in the Restore workflow) calls this with no access to the tree: request and set only. */
function checkRestore(input: { backup: { details: Record<string, unknown> }; request: unknown }): string[] {
  const problems: string[] = [];
  const details = filesResultDetailsSchema.safeParse(input.backup.details);
  if (!details.success) problems.push('the backup set records no file index for this component');
  const request = filesRestoreRequestSchema.safeParse(input.request);
  if (!request.success) return [...problems, 'the request is not a files restore request'];
  const { path: glob, swap } = request.data;
  if (glob !== undefined) {
    try {
      picomatch(glob, { dot: true });
    } catch (error) {
      problems.push(`path ${JSON.stringify(glob)} is not a valid glob: ${(error as Error).message}`);
    }
    if (swap) {
      problems.push(
        'swap replaces the whole tree, so it cannot be combined with path (restore the path into the staging folder and copy what you need)',
      );
    }
  }
  return problems;
}

function stringFlag(values: Readonly<Record<string, unknown>>, name: string): string | undefined {
  return nonEmptyString(values[name]);
}

/**
 * The folder a restore writes: the request's `target`, else the configured root, else where the
 * set was read from (on AWS Validate gets no files settings, and the Lambdas mount the file system
 * at one path). Not per component: a Liferay Home and an app server restored into one folder
 * collide too, and so do folders nested in one another (restore-lock.ts foldersNestedWith, which
 * reads the `folder ` names).
 */
function restoreTargets(name: FilesComponentName, input: RestoreTargetsInput): string[] {
  const request = input.request as FilesRestoreRequest;
  const settings = (input.settings ?? {}) as Record<string, unknown>;
  const folder = request.target ?? nonEmptyString(settings.root) ?? recordedTreeRoot(input.backup);
  return [folder ? `folder ${folder}` : `the ${name} folder of this deployment`];
}

/** The tree's root as the set's files result records it (index-format.ts `sources`). */
function recordedTreeRoot(backup: ComponentResult): string | undefined {
  const sources = backup.details.sources;
  if (!Array.isArray(sources)) return undefined;
  const tree = sources.find((source) => (source as { role?: unknown } | null)?.role === 'tree') as
    | { root?: unknown }
    | undefined;
  return nonEmptyString(tree?.root);
}

/**
 * Settings of a local run: the tree, and two uploads in flight (three 16 MiB upload buffers):
 * one S3-compatible server is saturated by two, and the CLI's memory stays lower; Lambda runs with
 * the schema's defaults (four in flight). Measured on the medium set: 8 MiB packs cost 20-40 %
 * more time against s3rver (twice the requests) for about 30 MB less peak memory.
 */
function localSettings(dir: string): Record<string, unknown> {
  return { root: path.resolve(dir), storeConcurrency: 2 };
}

/**
 * A backup's tree must be there when the run starts: a mistyped `--home` would otherwise make a
 * failed set (exit 1) that reads like a failed backup rather than a wrong flag. A restore's target
 * may not exist yet (it is created).
 */
function backupSettings(dir: string, flag: string): Record<string, unknown> {
  const root = path.resolve(dir);
  let isFolder = false;
  try {
    isFolder = statSync(root).isDirectory();
  } catch {
    // missing or unreadable: said below
  }
  if (!isFolder)
    throw new InvalidInputError(`--${flag} ${root}: no such folder (give the folder to back up)`);
  return localSettings(root);
}

function restoreRequest(values: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const glob = stringFlag(values, 'path');
  return {
    swap: values.swap === true,
    ...(glob ? { path: glob } : {}),
    ...(values['skip-lost'] === true ? { skipLost: true } : {}),
    ...(values.force === true ? { force: true } : {}),
  };
}

const liferayHomeLocal: LocalOptions = {
  options: {
    home: { type: 'string', description: 'the Liferay Home to back up', commands: ['backup'] },
    to: {
      type: 'string',
      description:
        'where the Liferay Home is restored (a missing or empty folder is filled; an existing tree needs --swap)',
      commands: ['restore'],
    },
    swap: {
      type: 'boolean',
      description: 'replace an existing tree with the restored one (the old tree is kept beside it, renamed)',
      commands: ['restore'],
    },
    path: {
      type: 'string',
      description: "restore only this path or glob of the tree, e.g. 'data/document_library/20101/**'",
      commands: ['restore'],
    },
    force: {
      type: 'boolean',
      description:
        'restore onto a Liferay Home of another DXP build (.liferay-version), which is refused otherwise',
      commands: ['restore'],
    },
    'skip-lost': {
      type: 'boolean',
      description:
        'when the store lost or damaged some content, restore every other file and list the lost ones (instead of failing)',
      commands: ['restore'],
    },
  },
  settingsFromOptions(values, command: CliCommand) {
    const home = command === 'backup' ? stringFlag(values, 'home') : undefined;
    if (home) return backupSettings(home, 'home');
    const to = command === 'restore' ? stringFlag(values, 'to') : undefined;
    return to ? localSettings(to) : undefined;
  },
  restoreRequestFromOptions(values) {
    return stringFlag(values, 'to') ? restoreRequest(values) : undefined;
  },
};

const appServerLocal: LocalOptions = {
  options: {
    'app-server': {
      type: 'string',
      description: 'the application server folder (backup: what is backed up; restore: where it goes)',
      commands: ['backup', 'restore'],
    },
  },
  settingsFromOptions(values, command: CliCommand) {
    const dir = command === 'backup' || command === 'restore' ? stringFlag(values, 'app-server') : undefined;
    if (!dir) return undefined;
    return command === 'backup' ? backupSettings(dir, 'app-server') : localSettings(dir);
  },
  restoreRequestFromOptions(values) {
    return stringFlag(values, 'app-server') ? restoreRequest(values) : undefined;
  },
};

function filesModule(
  name: FilesComponentName,
  local: LocalOptions,
  handlers: Readonly<Record<string, Handler>>,
): ComponentModule {
  return {
    name,
    settings: filesSettingsSchema,
    restoreRequest: filesRestoreRequestSchema,
    checkRestore,
    restoreTargets: (input) => restoreTargets(name, input),
    handlers,
    local,
    retention: filesRetention,
    verify: verifyFiles,
    drillRestoresIntoFolder: true,
  };
}

/** The Liferay Home: document library, configuration, modules, license, logs (liferay-rules.ts). */
export const liferayHomeModule: ComponentModule = filesModule(
  'liferayHome',
  liferayHomeLocal,
  FILES_HANDLERS,
);
/** The application server (Tomcat): the same engine with its own rules; its tasks are the handlers above. */
export const appServerModule: ComponentModule = filesModule('appServer', appServerLocal, {});
