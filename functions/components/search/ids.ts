/** Handler ids (the CDK functions carry the same ids; the local runner binds tasks by them). */
export const SEARCH_HANDLER_IDS = {
  prepareRepository: 'search-prepare-repository',
  startSnapshot: 'search-start-snapshot',
  checkSnapshot: 'search-check-snapshot',
  startRestore: 'search-start-restore',
  checkRecovery: 'search-check-recovery',
} as const;

/** The snapshot repository name when none is configured. */
export const DEFAULT_REPOSITORY_NAME = 'liferay-backup';

/** Environment variable of the registering function: the role Amazon OpenSearch Service assumes. */
export const SNAPSHOT_ROLE_ENV = 'SEARCH_SNAPSHOT_ROLE_ARN';
