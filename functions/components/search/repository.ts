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
 * The OpenSearch repository-s3 settings for the backup bucket. SSE-KMS with the store's key is
 * requested explicitly because the bucket refuses writes that do not name it
 * (`server_side_encryption_type`/`_kms_key_id`, OpenSearch 3.1+).
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
    if (s3.kmsKeyArn && !supportsKmsRepositorySettings(info)) {
      throw new ConfigError(
        `the cluster reports ${info.distribution} ${info.version}; writing snapshots into the backup bucket needs ` +
          'SSE-KMS with its key, which OpenSearch supports for S3 repositories from version 3.1 ' +
          '(with compatibility mode on, the reported version is not the real one)',
      );
    }
    // Registered read-only when a restore is the first to use it: another cluster may be writing.
    const wanted = s3RepositoryDefinition(s3, mode === 'restore');
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
        `snapshot repository ${name} is not registered on the cluster: register it (see docs/readme/search.md) or configure another name`,
      );
    }
    definition = existing;
    registration = 'verified';
  }
  const nodes = await engine.verifyRepository(name);
  if (nodes.length === 0) {
    throw new SearchEngineError(`snapshot repository ${name}: no node could verify it`, undefined, undefined);
  }
  if (mode === 'backup' && text(definition.settings.readonly) === 'true') {
    throw new ConfigError(
      `snapshot repository ${name} is read-only on this cluster: a backup cannot write to it`,
    );
  }
  return {
    record: { name, type: definition.type, location: repositoryLocation(definition) },
    registration,
    warnings,
  };
}
