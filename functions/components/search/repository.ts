import { ConfigError } from '#runtime/errors.ts';
import type { EngineInfo, RepositoryDefinition, SearchEngine } from './engine.ts';
import { SearchEngineError, SearchRepositoryConflictError } from './errors.ts';
import type { RepositoryRecord } from './records.ts';
import type { S3RepositorySettings } from './settings.ts';

/**
 * The snapshot repository: registered idempotently when the settings describe an S3 repository
 * (Amazon OpenSearch Service), otherwise an existing repository checked by name. Either way it is
 * verified (`_verify`: every node can reach it) before a snapshot or restore uses it.
 */

function text(value: unknown): string {
  return value === undefined || value === null ? '' : String(value);
}

function trimSlashes(path: string): string {
  return path.replace(/^\/+|\/+$/g, '');
}

/** Where a repository keeps its snapshots, comparable across reads (`s3://bucket/base/path`). */
export function repositoryLocation(definition: RepositoryDefinition): string {
  const settings = definition.settings;
  switch (definition.type) {
    case 's3':
    case 'gcs':
      return `${definition.type}://${text(settings.bucket)}/${trimSlashes(text(settings.base_path))}`;
    case 'azure':
      return `azure://${text(settings.container)}/${trimSlashes(text(settings.base_path))}`;
    case 'fs':
      return `fs://${text(settings.location)}`;
    case 'url':
      return text(settings.url);
    default:
      return `${definition.type}://${text(settings.bucket ?? settings.location ?? settings.path)}`;
  }
}

/**
 * The OpenSearch repository-s3 settings for the backup bucket. With a key, SSE-KMS with it is
 * requested explicitly (`server_side_encryption_type`/`_kms_key_id`, OpenSearch 3.1+). Without
 * one, the writes name no encryption and the bucket's default encryption (SSE-KMS with the
 * store's key) applies: the bucket refuses only writes that name another encryption or key.
 */
export function s3RepositoryDefinition(s3: S3RepositorySettings, readonly: boolean): RepositoryDefinition {
  return {
    type: 's3',
    settings: {
      bucket: s3.bucket,
      base_path: trimSlashes(s3.basePath),
      region: s3.region,
      role_arn: s3.roleArn,
      ...(s3.kmsKeyArn
        ? {
            server_side_encryption_type: 'aws:kms',
            server_side_encryption_kms_key_id: s3.kmsKeyArn,
            server_side_encryption_bucket_key_enabled: true,
          }
        : {}),
      ...(readonly ? { readonly: true } : {}),
    },
  };
}

export function isReadOnly(definition: RepositoryDefinition): boolean {
  return text(definition.settings.readonly) === 'true';
}

/**
 * Why a backup leaves a read-only registration alone. Only one cluster may write a repository
 * (two writers corrupt it), and a registration is made read-only where another cluster writes:
 * by a restore that came first (a DR cluster) or by an operator. Nothing can tell here that the
 * other cluster has stopped, so only the operator may make it writable.
 */
function readOnlyForBackup(name: string, definition: RepositoryDefinition): ConfigError {
  return new ConfigError(
    `snapshot repository ${name} (${repositoryLocation(definition)}) is read-only on this cluster: another cluster may be writing to it, ` +
      'and two clusters writing one repository corrupt it, so the backup left it as it is and wrote nothing. ' +
      "Give this cluster's backups a repository of their own (another repository name, and another bucket or base path), or, " +
      'if this cluster is the only cluster writing there, make it writable yourself (register it again without "readonly": true) ' +
      'and run the backup again',
  );
}

/** Compares an existing repository with the wanted one: what to do about it. */
export function planRegistration(
  name: string,
  existing: RepositoryDefinition | undefined,
  wanted: RepositoryDefinition,
  mode: 'backup' | 'restore',
): 'create' | 'update' | 'unchanged' {
  if (!existing) return 'create';
  const here = repositoryLocation(existing);
  const there = repositoryLocation(wanted);
  if (existing.type !== wanted.type || here !== there) {
    throw new SearchRepositoryConflictError(
      `snapshot repository ${name} already exists and points to ${here}, not to ${there}; ` +
        'it is left as it is: register this deployment under another repository name, or remove the old one yourself',
    );
  }
  // A restore reads: an existing registration at the same place serves whatever its other settings.
  if (mode === 'restore') return 'unchanged';
  // Never 'update' it to writable: the registration is all that keeps this cluster from writing.
  if (isReadOnly(existing)) throw readOnlyForBackup(name, existing);
  const wantedSettings = { ...wanted.settings, readonly: false };
  const existingSettings: Record<string, unknown> = { readonly: false, ...existing.settings };
  const differs = Object.entries(wantedSettings).some(
    ([key, value]) => text(existingSettings[key]) !== text(value),
  );
  return differs ? 'update' : 'unchanged';
}

/** OpenSearch accepts SSE-KMS settings for S3 repositories from 3.1 on. */
export function supportsKmsRepositorySettings(info: EngineInfo): boolean {
  if (info.distribution !== 'opensearch') return false;
  const [major = 0, minor = 0] = info.version.split('.').map((part) => Number.parseInt(part, 10));
  return major > 3 || (major === 3 && minor >= 1);
}

export interface PreparedRepositoryResult {
  readonly record: RepositoryRecord;
  readonly registration: 'created' | 'updated' | 'unchanged' | 'verified';
  readonly warnings: string[];
}

/** Registers (or finds) and verifies the repository. */
export async function prepareRepository(
  engine: SearchEngine,
  info: EngineInfo,
  repository: { readonly name: string; readonly s3?: S3RepositorySettings | undefined },
  mode: 'backup' | 'restore',
): Promise<PreparedRepositoryResult> {
  const { name, s3 } = repository;
  const existing = await engine.getRepository(name);
  const warnings: string[] = [];
  let registration: PreparedRepositoryResult['registration'];
  let definition: RepositoryDefinition;
  if (s3) {
    // Before OpenSearch 3.1 (and on Elasticsearch 7.10 domains) the repository takes no SSE-KMS
    // settings: it is registered without them, and the bucket's default encryption (the store's
    // key, which the snapshot role may use) encrypts what the service writes.
    const { kmsKeyArn, ...withoutKey } = s3;
    const sseSettings = kmsKeyArn !== undefined && supportsKmsRepositorySettings(info);
    // Registered read-only when a restore is the first to use it: another cluster may be writing.
    const wanted = s3RepositoryDefinition(sseSettings ? s3 : withoutKey, mode === 'restore');
    const plan = planRegistration(name, existing, wanted, mode);
    if (plan === 'unchanged' && existing) {
      definition = existing;
      registration = 'unchanged';
    } else {
      await engine.putRepository(name, wanted);
      definition = wanted;
      registration = plan === 'create' ? 'created' : 'updated';
      if (plan === 'update') warnings.push(`snapshot repository ${name}: settings updated (same location)`);
    }
  } else {
    if (!existing) {
      throw new ConfigError(
        `snapshot repository ${name} is not registered on the cluster: register it (see docs/readme/search.md) or configure another name (repository.name in the search configuration, CLI: --search-repository)`,
      );
    }
    definition = existing;
    registration = 'verified';
  }
  const nodes = await engine.verifyRepository(name);
  if (nodes.length === 0) {
    throw new SearchEngineError(`snapshot repository ${name}: no node could verify it`, undefined, undefined);
  }
  if (mode === 'backup' && isReadOnly(definition)) throw readOnlyForBackup(name, definition);
  return {
    record: { name, type: definition.type, location: repositoryLocation(definition) },
    registration,
    warnings,
  };
}
