import { type ComponentModule, targetUrl } from '#components/component.ts';
import { finishSourceBackup } from './finish-backup.ts';
import { finishSourceRestore } from './finish-restore.ts';
import { sourceLocalOptions } from './local-options.ts';
import { mirrorSourceRepository } from './mirror-repository.ts';
import { planSourceBackup } from './plan-backup.ts';
import { selectRefs } from './refs.ts';
import { restoreSourceRepository, targetCredentialProblems } from './restore-repository.ts';
import { sourceRetention, verifySource } from './retention.ts';
import {
  type SourceRestoreRequest,
  sourceRecordSchema,
  sourceRestoreRequestSchema,
  sourceSettingsSchema,
} from './settings.ts';

/**
 * Checks a source restore request against what the backup recorded, with no side effect (it runs
 * in the Restore workflow's Validate): every target names a recorded repository, its patterns
 * match recorded refs, a store restore has a store copy, nothing is pushed twice to one URL, and
 * its credentials name only what a restore may read (SSM parameters under the deployment's
 * `restoreCredentialsPath`, LIFERAY_BACKUP_GIT_* variables). Names only: Validate reads no secret.
 */
export function checkSourceRestore(input: {
  backup: { details: Record<string, unknown> };
  request: unknown;
  settings?: unknown;
}): string[] {
  const request = sourceRestoreRequestSchema.safeParse(input.request);
  if (!request.success) return ['the request is not a source restore request'];
  // A set whose entries are stored beside it keeps each repository's name and whether it has a
  // store copy inline, enough for these checks without reading the store; its refs are checked by
  // the restore function (which reads the list) before it pushes.
  const details = sourceRecordSchema.safeParse(input.backup.details);
  if (!details.success) return ["the backup set's source record is unreadable"];
  // Without source settings (none given to this function) no SSM parameter is allowed, as in the
  // restore function when restoreCredentialsPath is not configured.
  const settings = sourceSettingsSchema.safeParse(input.settings ?? {});
  if (!settings.success) return ["this deployment's source settings are unreadable"];
  const { restoreCredentialsPath } = settings.data;
  const repositories = details.data.repositories;
  const names = repositories.map((repository) => repository.name);
  const problems: string[] = [];
  if (request.data.targets.length === 0) {
    problems.push(
      `name where to push the recorded refs: "source": {"targets": [{"repository": "${names[0] ?? 'NAME'}", "url": "https://..."}]}, or leave source out of "components"`,
    );
  }
  const seen = new Set<string>();
  request.data.targets.forEach((target, index) => {
    const where = `targets.${index}`;
    if (seen.has(target.url)) problems.push(`${where}.url: ${target.url} is a target twice`);
    seen.add(target.url);
    for (const problem of targetCredentialProblems(target.credentials, restoreCredentialsPath)) {
      problems.push(`${where}.credentials: ${problem}`);
    }
    const entry =
      target.repository === undefined
        ? repositories.length === 1
          ? repositories[0]
          : undefined
        : repositories.find((repository) => repository.name === target.repository);
    if (!entry) {
      problems.push(
        target.repository === undefined
          ? `${where}.repository: the backup holds ${names.length} repositories, name one of ${names.join(', ')}`
          : `${where}.repository: ${target.repository} is not in this backup (it has ${names.join(', ') || 'none'})`,
      );
      return;
    }
    if (target.from === 'store' && !entry.storeCopy) {
      problems.push(
        `${where}.from: the backup has no store copy of ${entry.name} (storeCopy was off); use "mirror"`,
      );
    }
    if (
      target.refs &&
      'refs' in entry &&
      entry.refs &&
      Object.keys(selectRefs(entry.refs, target.refs)).length === 0
    ) {
      problems.push(`${where}.refs: no recorded ref of ${entry.name} matches ${target.refs.join(', ')}`);
    }
  });
  return problems;
}

/** The source component: Git repositories mirrored ref for ref, recorded, verified and restorable. */
export const sourceModule: ComponentModule = {
  name: 'source',
  settings: sourceSettingsSchema,
  restoreRequest: sourceRestoreRequestSchema,
  checkRestore: checkSourceRestore,
  // Each target repository, once however many recorded repositories are pushed to it.
  restoreTargets: ({ request }) => [
    ...new Set(
      (request as SourceRestoreRequest).targets.map(
        (target) => `Git repository ${targetUrl(target.url) ?? '(a URL that cannot be read)'}`,
      ),
    ),
  ],
  handlers: {
    'source-plan-backup': planSourceBackup,
    'source-mirror-repository': mirrorSourceRepository,
    'source-finish-backup': finishSourceBackup,
    'source-restore-repository': restoreSourceRepository,
    'source-finish-restore': finishSourceRestore,
  },
  local: sourceLocalOptions(),
  retention: sourceRetention,
  verify: verifySource,
};
