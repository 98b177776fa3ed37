import type { ComponentModule, RestoreTargetsInput } from '#components/component.ts';
import { InvalidInputError } from '#runtime/errors.ts';
import { nonEmptyString } from '#runtime/validate.ts';
import { checkBackup, startBackup } from './backup.ts';
import { hostAndPort, parseDatabaseUrl } from './connection.ts';
import { checkConfiguredTarget, checkDatabaseRestore } from './rds-plan.ts';
import { checkRestore, startRestore } from './restore.ts';
import { databaseRetention } from './retention.ts';
import {
  type DatabaseRestoreRequest,
  databaseRestoreRequestSchema,
  databaseSettingsSchema,
} from './schemas.ts';
import { verifyDatabase } from './verify.ts';

/**
 * A dump restored into a named database writes that database (server and database). A dump into
 * the database named after the restore writes nothing live, nor does an RDS/Aurora restore: it
 * creates a new instance or cluster, which RDS refuses to create twice (restore.ts adopts only its own).
 */
function restoreTargets(input: RestoreTargetsInput): string[] {
  const request = input.request as DatabaseRestoreRequest;
  if (input.backup.details.mode !== 'dump' || request.targetDatabase === undefined) return [];
  return [
    `database ${request.targetDatabase} on ${dumpServer((input.settings ?? {}) as Record<string, unknown>)}`,
  ];
}

/** The dump server as host:port, never with the URL's user or password. */
function dumpServer(settings: Record<string, unknown>): string {
  const url = nonEmptyString(settings.url);
  if (url) {
    try {
      return hostAndPort(parseDatabaseUrl(url));
    } catch {
      // A URL this cannot read names no server here; the component refuses it with its own message.
    }
  }
  const parameter = nonEmptyString(settings.urlParameterName);
  return parameter ? `the server of SSM parameter ${parameter}` : 'the database server of this deployment';
}

/**
 * The database component (DESIGN.md): RDS instance or Aurora cluster snapshots with an optional
 * DR-region copy and cross-account share, or a streamed logical dump of a self-managed MySQL,
 * MariaDB or PostgreSQL database. Restores always create something new.
 */
export const databaseModule: ComponentModule = {
  name: 'database',
  settings: databaseSettingsSchema,
  restoreRequest: databaseRestoreRequestSchema,
  checkRestore: ({ backup, request, settings }) => [
    ...checkDatabaseRestore(backup.details, request),
    ...checkConfiguredTarget(backup.details, settings),
  ],
  restoreTargets,
  handlers: {
    'database-start-backup': startBackup,
    'database-check-backup': checkBackup,
    'database-start-restore': startRestore,
    'database-check-restore': checkRestore,
  },
  local: {
    options: {
      'database-url': {
        type: 'string',
        description:
          'database to dump (backup) or server and database to restore into (restore): mysql://, mariadb:// or postgresql://USER[:PASSWORD]@HOST[:PORT]/DB; the password may come from $LIFERAY_BACKUP_DATABASE_PASSWORD',
        commands: ['backup', 'restore'],
      },
      'database-overwrite': {
        type: 'boolean',
        description: 'restore into a target database that already holds tables (they are replaced)',
        commands: ['restore'],
      },
    },
    settingsFromOptions(values) {
      const url = values['database-url'];
      if (typeof url !== 'string') return undefined;
      // Checked here, before the run creates anything: a URL that cannot work is a bad flag, not a
      // partial set (the message shows the URL without its password).
      parseDatabaseUrl(url, '--database-url');
      return { mode: 'dump', url };
    },
    restoreRequestFromOptions(values) {
      const url = values['database-url'];
      const overwrite = values['database-overwrite'] === true;
      if (typeof url !== 'string') {
        if (overwrite) throw new InvalidInputError('--database-overwrite needs --database-url (the target)');
        return undefined;
      }
      const target = parseDatabaseUrl(url, '--database-url').database;
      return { ...(target ? { targetDatabase: target } : {}), ...(overwrite ? { overwrite: true } : {}) };
    },
  },
  retention: databaseRetention,
  verify: verifyDatabase,
};
