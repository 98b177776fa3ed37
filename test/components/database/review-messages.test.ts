import { describe, expect, it } from 'vitest';
import { databaseModule } from '#components/database/module.ts';
import { CLI_FLAGS, checkDatabaseRestore } from '#components/database/rds-plan.ts';

/**
 * Found in a review of the README examples: a database restore is started from the Step Functions
 * console (a JSON request) or from the CLI (flags that build that request), and the refusals named
 * only the request's fields: `set "overwrite": true` to an SRE who types `--database-overwrite`.
 * Every refusal that names a request field the CLI sets names its flag too.
 */

const dump = {
  mode: 'dump',
  engine: 'mariadb',
  source: 'mariadb://u@h:3306/lportal',
  database: 'lportal',
  serverVersion: '10.11',
  tool: 'mariadb-dump',
  toolVersion: 'x',
  format: 'sql-gzip',
  key: 'dumps/b/database/lportal.sql.gz',
  size: 1,
  sha256: 'a'.repeat(64),
  dumpBytes: 1,
};
const instance = {
  mode: 'rds-instance',
  source: {
    identifier: 'liferay-db',
    arn: 'arn',
    region: 'eu-west-1',
    engine: 'mysql',
    engineVersion: '8.0',
    instanceClass: 'db.t4g.large',
    securityGroupIds: [],
    multiAz: false,
    port: 3306,
    storageEncrypted: true,
    publiclyAccessible: false,
    deletionProtection: false,
    iamDatabaseAuthentication: false,
  },
  snapshot: { identifier: 's', arn: 'arn:s', region: 'eu-west-1' },
};

/** The database request of `restore latest --database-url URL [--database-overwrite]`, as the CLI builds it. */
function cliRequest(flags: Record<string, unknown>): unknown {
  return databaseModule.local?.restoreRequestFromOptions?.(flags);
}

describe('review: database refusals name the request field and the CLI flag', () => {
  it('the flags the messages name are the database module’s CLI options', () => {
    // Restated in rds-plan.ts (module.ts imports it): a renamed flag must fail here.
    const options = Object.keys(databaseModule.local?.options ?? {});
    expect(options).toContain(CLI_FLAGS.url.replace(/^--/, ''));
    expect(options).toContain(CLI_FLAGS.overwrite.replace(/^--/, ''));
  });

  it('restoring a dump into the database it came from: "overwrite": true, or --database-overwrite', () => {
    // Prepare: the same request from the console and from the CLI.
    const requests = [
      { targetDatabase: 'lportal' },
      cliRequest({ 'database-url': 'mariadb://liferay@db.example:3306/lportal' }),
    ];
    for (const request of requests) {
      // Act
      const problems = checkDatabaseRestore(dump, request).join('; ');
      // Assess
      expect(problems).toMatch(/targetDatabase lportal is the database that was backed up/);
      expect(problems).toContain('"overwrite": true in the request (CLI: --database-overwrite)');
      expect(problems).toContain('"targetDatabase", CLI: the database named in --database-url');
    }
    // The CLI's --database-overwrite is the request's overwrite: accepted.
    expect(
      checkDatabaseRestore(
        dump,
        cliRequest({ 'database-url': 'mariadb://liferay@db.example/lportal', 'database-overwrite': true }),
      ),
    ).toEqual([]);
  });

  it('dump fields given for a snapshot set name their CLI flags', () => {
    const problems = checkDatabaseRestore(instance, { targetDatabase: 'x', overwrite: true }).join('; ');
    expect(problems).toMatch(
      /targetDatabase, overwrite: apply to dumps \(CLI: --database-url, --database-overwrite\)/,
    );
    expect(problems).toContain('"targetIdentifier"');
  });

  it('RDS fields given for a dump set: what a dump takes, in the request and on the CLI', () => {
    const problems = checkDatabaseRestore(dump, { instanceClass: 'db.t4g.large' }).join('; ');
    expect(problems).toContain('a dump takes only "targetDatabase" and "overwrite"');
    expect(problems).toContain('--database-overwrite');
  });
});
