import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { SetComponent, VerifyOutcome } from '#components/component.ts';
import { describeIssues, ObjectNotFoundError } from '#runtime/errors.ts';
import type { Runtime } from '#runtime/runtime.ts';
import type { ContentStore } from '#store/content-store.ts';
import { parseDatabaseUrl } from './connection.ts';
import { SQL_DUMP_TRAILER } from './dump.ts';
import { TAG_BACKUP_ID } from './naming.ts';
import { keyState, tagValue } from './rds-adapter.ts';
import { configuredTargetProblems } from './rds-plan.ts';
import { snapshotsOf } from './retention.ts';
import {
  type DumpDetails,
  databaseDetailsSchema,
  databaseSettingsSchema,
  type SnapshotDetails,
  type SnapshotRef,
} from './schemas.ts';

/**
 * The restore drill's check of the database in a set, without restoring it: the recorded snapshot
 * and DR copy exist, are `available`, encrypted as recorded with a key that is enabled, of the
 * recorded engine and version, still shared as recorded; or the dump is in the store with its
 * recorded size and sha256 (read back whole), and decompresses to its recorded length and trailer.
 */

/** pg_dump's custom format starts with these bytes. */
const PG_CUSTOM_MAGIC = 'PGDMP';

function outcome(checks: string[], problems: string[]): VerifyOutcome {
  return { status: problems.length === 0 ? 'verified' : 'failed', checks, problems };
}

export async function verifyDatabase(
  { backupId, result }: SetComponent,
  rt: Runtime,
): Promise<VerifyOutcome> {
  if (result.status !== 'complete') {
    return outcome([], [`the set's database result is ${result.status}: it recorded nothing to restore`]);
  }
  const parsed = databaseDetailsSchema.safeParse(result.details);
  if (!parsed.success) {
    return outcome([], [`the database record cannot be read: ${describeIssues(parsed.error.issues)}`]);
  }
  const details = parsed.data;
  if (details.mode !== 'dump') {
    const verified = await verifySnapshots(backupId, details);
    const settings = databaseSettingsSchema.safeParse(rt.settings.components.database);
    const refused = settings.success ? configuredTargetProblems(details, settings.data) : [];
    return refused.length === 0
      ? verified
      : outcome(verified.checks, [...verified.problems, ...refused.map(restoreRefuses)]);
  }
  const verified = await verifyDump(rt.store, backupId, details);
  // No dump to read (not in the store, or not in this set): that alone decides the drill.
  if (verified.checks.length === 0) return verified;
  const target = dumpTarget(details, rt);
  return outcome([...verified.checks, ...target.checks], [...verified.problems, ...target.problems]);
}

const restoreRefuses = (problem: string) => `${problem} (a restore refuses it)`;

/**
 * What a restore of the dump into the configured database would refuse before loading anything
 * (restore.ts, dump.ts), checked from the configuration alone (never connecting, never reading the
 * URL's SSM parameter); and, said plainly, what only loading the SQL would prove.
 */
function dumpTarget(details: DumpDetails, rt: Runtime): { checks: string[]; problems: string[] } {
  const notLoaded = `not checked: that the SQL loads (the drill does not restore the dump into a database), nor that the target server takes a dump of ${details.engine} ${details.serverVersion}`;
  const raw = rt.settings.components.database;
  if (raw === undefined)
    return {
      checks: [notLoaded, 'not checked: the restore target (no database is configured here)'],
      problems: [],
    };
  const settings = databaseSettingsSchema.safeParse(raw);
  if (!settings.success)
    return {
      checks: [notLoaded],
      problems: [`the database settings are not valid: ${describeIssues(settings.error.issues)}`],
    };
  const refused = configuredTargetProblems(details, settings.data);
  if (refused.length > 0) return { checks: [notLoaded], problems: refused.map(restoreRefuses) };
  if (settings.data.mode !== 'dump' || settings.data.url === undefined)
    return {
      checks: [
        notLoaded,
        'not checked: the target engine (its URL is in an SSM parameter the drill does not read)',
      ],
      problems: [],
    };
  const { engine } = parseDatabaseUrl(settings.data.url, 'components.database.url');
  return {
    checks: [`the configured database is ${engine}: a restore takes a ${details.engine} dump`, notLoaded],
    problems: [],
  };
}

async function verifySnapshots(backupId: string, details: SnapshotDetails): Promise<VerifyOutcome> {
  const checks: string[] = [];
  const problems: string[] = [];
  const snapshots = snapshotsOf(details.mode);
  const recorded: [string, SnapshotRef][] = [
    ['snapshot', details.snapshot],
    ...(details.drCopy ? [['DR copy', details.drCopy] as [string, SnapshotRef]] : []),
  ];
  for (const [role, ref] of recorded) {
    const what = `${role === 'DR copy' ? role : snapshots.kind} ${ref.identifier} in ${ref.region}`;
    const observed = await snapshots.describe(ref.region, ref.identifier);
    if (!observed) {
      problems.push(`${what} does not exist`);
      continue;
    }
    checks.push(`${what} exists`);
    const taggedId = tagValue(observed.tags, TAG_BACKUP_ID);
    if (taggedId !== backupId) {
      problems.push(
        `${what} is another snapshot than the set's: its ${TAG_BACKUP_ID} tag is ${taggedId === undefined ? 'missing' : JSON.stringify(taggedId)}`,
      );
    }
    if (observed.arn !== ref.arn)
      problems.push(`${what} has the ARN ${observed.arn}, the set recorded ${ref.arn}`);
    if (observed.status === 'available') checks.push(`${what} is available`);
    else problems.push(`${what} is ${observed.status ?? 'in no state'}, not available`);

    if (
      details.source.engine !== observed.engine ||
      details.source.engineVersion !== observed.engineVersion
    ) {
      problems.push(
        `${what} is ${observed.engine ?? '(no engine)'} ${observed.engineVersion ?? '(no version)'}, the set recorded ${details.source.engine} ${details.source.engineVersion}`,
      );
    } else {
      checks.push(`${what} is ${observed.engine} ${observed.engineVersion} as recorded`);
    }

    const encryption = (encrypted: boolean | undefined, key: string | undefined) =>
      encrypted ? `encrypted with ${key ?? 'an unnamed key'}` : 'not encrypted';
    const encryptedAsRecorded =
      (ref.encrypted === undefined || observed.encrypted === ref.encrypted) &&
      (ref.kmsKeyId === undefined || observed.kmsKeyId === ref.kmsKeyId);
    if (!encryptedAsRecorded) {
      problems.push(
        `${what} is ${encryption(observed.encrypted, observed.kmsKeyId)}, the set recorded ${encryption(ref.encrypted, ref.kmsKeyId)}`,
      );
    } else {
      checks.push(`${what} is ${encryption(observed.encrypted, observed.kmsKeyId)} as recorded`);
    }
    if (observed.encrypted && observed.kmsKeyId) {
      // A disabled key, or one pending deletion, makes the snapshot impossible to restore.
      const state = await keyState(ref.region, observed.kmsKeyId);
      if (state === 'Enabled') checks.push(`KMS key ${observed.kmsKeyId} of the ${role} is enabled`);
      else
        problems.push(
          `KMS key ${observed.kmsKeyId} of the ${what} is ${state ?? 'gone (not found)'}: RDS cannot restore the ${role} until it is enabled`,
        );
    }

    const shares = details.sharedWith.filter((share) => share.snapshotArn === ref.arn);
    if (shares.length > 0) {
      const accounts = await snapshots.restoreAccounts(ref.region, ref.identifier);
      for (const share of shares) {
        if (accounts.includes(share.account) || accounts.includes('all'))
          checks.push(`${what} is shared with account ${share.account} as recorded`);
        else problems.push(`${what} is no longer shared with account ${share.account}`);
      }
    }
  }
  return outcome(checks, problems);
}

interface StreamFacts {
  readonly size: number;
  readonly sha256: string;
  readonly head: Buffer;
  /** SQL dumps: what gunzip made of the object. */
  readonly gzip?: { readonly bytes: number; readonly tail: string; readonly error?: Error };
}

/**
 * Reads the object once: every byte is hashed and counted, and (SQL dumps) fed to gunzip on the
 * side, whose failure is noted without stopping the hash, so a damaged dump gets both problems named.
 */
async function readDump(body: Readable, gzip: boolean): Promise<StreamFacts> {
  const hash = createHash('sha256');
  let size = 0;
  let head = Buffer.alloc(0);
  const gunzip = gzip ? createGunzip() : undefined;
  let inflated = 0;
  let tail = '';
  let gzipError: Error | undefined;
  let gzipDone: Promise<void> = Promise.resolve();
  if (gunzip) {
    gunzip.on('data', (chunk: Buffer) => {
      inflated += chunk.length;
      tail = (tail + chunk.subarray(-256).toString('latin1')).slice(-256);
    });
    gzipDone = new Promise((resolve) => {
      gunzip.once('end', resolve);
      gunzip.once('error', (error) => {
        gzipError = error;
        resolve();
      });
    });
  }
  try {
    for await (const chunk of body) {
      const buffer = chunk as Buffer;
      hash.update(buffer);
      size += buffer.length;
      if (head.length < 16) head = Buffer.concat([head, buffer.subarray(0, 16 - head.length)]);
      if (gunzip && !gzipError && !gunzip.write(buffer)) {
        await Promise.race([once(gunzip, 'drain').catch(() => undefined), gzipDone]);
      }
    }
    if (gunzip && !gzipError) gunzip.end();
    await gzipDone;
  } finally {
    gunzip?.destroy();
  }
  return {
    size,
    sha256: hash.digest('hex'),
    head,
    ...(gunzip ? { gzip: { bytes: inflated, tail, ...(gzipError ? { error: gzipError } : {}) } } : {}),
  };
}

async function verifyDump(
  store: ContentStore,
  backupId: string,
  details: DumpDetails,
): Promise<VerifyOutcome> {
  const checks: string[] = [];
  const problems: string[] = [];
  const key = details.key;
  const folder = `dumps/${backupId}/database/`;
  if (!key.startsWith(folder) || key.slice(folder.length).includes('/')) {
    return outcome(checks, [`the recorded dump key ${key} is not in this set's ${folder}: not read`]);
  }
  const stored = await store.stat(key);
  if (!stored) return outcome(checks, [`dump ${key} is not in the store`]);
  checks.push(`dump ${key} exists`);
  if (stored.size !== details.size)
    problems.push(`dump ${key} is ${stored.size} bytes in the store, the set recorded ${details.size}`);

  let facts: StreamFacts;
  try {
    facts = await readDump(await store.get(key), details.format === 'sql-gzip');
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return outcome(checks, [`dump ${key} is not in the store`]);
    throw error;
  }
  if (facts.size !== details.size) {
    if (stored.size === details.size)
      problems.push(`dump ${key}: ${facts.size} bytes were read, the set recorded ${details.size}`);
  } else {
    checks.push(`dump ${key} is ${facts.size} bytes as recorded`);
  }
  if (facts.sha256 !== details.sha256)
    problems.push(`dump ${key} has sha256 ${facts.sha256}, the set recorded ${details.sha256}`);
  else checks.push(`dump ${key} has the recorded sha256 ${details.sha256} (every byte read back)`);

  if (facts.gzip) {
    if (facts.gzip.error) {
      problems.push(`dump ${key} is not a valid gzip stream: ${facts.gzip.error.message}`);
    } else {
      checks.push(`dump ${key} decompresses to the end (${facts.gzip.bytes} bytes of SQL)`);
      if (facts.gzip.bytes !== details.dumpBytes)
        problems.push(
          `dump ${key} decompresses to ${facts.gzip.bytes} bytes, ${details.tool} wrote ${details.dumpBytes}`,
        );
      if (!facts.gzip.tail.includes(SQL_DUMP_TRAILER))
        problems.push(`dump ${key} does not end with "${SQL_DUMP_TRAILER}": the SQL is incomplete`);
      else checks.push(`dump ${key} ends with "${SQL_DUMP_TRAILER}"`);
    }
  } else if (facts.head.subarray(0, PG_CUSTOM_MAGIC.length).toString('latin1') !== PG_CUSTOM_MAGIC) {
    problems.push(`dump ${key} does not start with ${PG_CUSTOM_MAGIC}: not a pg_dump custom-format archive`);
  } else {
    checks.push(`dump ${key} is a pg_dump custom-format archive (${PG_CUSTOM_MAGIC} header)`);
  }
  return outcome(checks, problems);
}
