import type { DatabaseServer } from '../../support/database-servers.ts';

/**
 * A Liferay-like schema (names and column types as in Liferay's portal tables, trimmed) with some
 * thousands of rows, a BLOB column (DBStore's DLContent.data_), NULLs, quotes, backslashes and
 * non-ASCII text: what a dump must carry byte for byte.
 */
export const TABLES = ['Company', 'User_', 'DLFileEntry', 'DLContent'] as const;

export function createLiferaySchema(
  server: DatabaseServer,
  database: string,
  rows: number,
  options: { randomBlobs?: boolean } = {},
): void {
  if (server.engine === 'mariadb') {
    server.admin(`CREATE DATABASE ${database} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    server.admin(
      [
        'CREATE TABLE Company (companyId BIGINT NOT NULL PRIMARY KEY, webId VARCHAR(75), mx VARCHAR(200), active_ TINYINT)',
        'CREATE TABLE User_ (userId BIGINT NOT NULL PRIMARY KEY, companyId BIGINT, screenName VARCHAR(75), emailAddress VARCHAR(254), firstName VARCHAR(75), createDate DATETIME(6), status INT, INDEX IX_U (companyId, screenName))',
        'CREATE TABLE DLFileEntry (fileEntryId BIGINT NOT NULL PRIMARY KEY, companyId BIGINT, title VARCHAR(255), description LONGTEXT, size_ BIGINT, version VARCHAR(75))',
        'CREATE TABLE DLContent (contentId BIGINT NOT NULL PRIMARY KEY, companyId BIGINT, path_ VARCHAR(255), version VARCHAR(75), data_ LONGBLOB, size_ BIGINT)',
        `INSERT INTO Company VALUES (20097, 'liferay.com', 'liferay.com', 1), (20098, 'o''reilly\\\\', NULL, 0)`,
        `INSERT INTO User_ SELECT seq, 20097, CONCAT('user', seq), CONCAT('user', seq, '@liferay.com'), IF(seq % 7 = 0, 'Jos\u00e9 \u00d1u\u00f1ez \u20ac \u{1F600}', CONCAT('First ''', seq, '''')), TIMESTAMP('2026-01-01 00:00:00') + INTERVAL seq SECOND, seq % 3 FROM seq_1_to_${rows}`,
        `INSERT INTO DLFileEntry SELECT seq, 20097, CONCAT('Document "', seq, '" \\\\ tab\\tend'), IF(seq % 5 = 0, NULL, REPEAT('lorem ipsum ', 20)), 1024, '1.0' FROM seq_1_to_${rows}`,
        `INSERT INTO DLContent SELECT seq, 20097, CONCAT('dl/', seq), '1.0', CONCAT(${options.randomBlobs ? 'RANDOM_BYTES(1024)' : 'UNHEX(REPEAT(MD5(seq), 64))'}, UNHEX('00FF27225C0A0D1A')), 1032 FROM seq_1_to_${rows}`,
        'CREATE TRIGGER trg_user BEFORE INSERT ON User_ FOR EACH ROW SET NEW.status = COALESCE(NEW.status, 0)',
        'CREATE PROCEDURE count_users() SELECT COUNT(*) FROM User_',
      ].join(';\n'),
      database,
    );
    return;
  }
  server.admin(`CREATE DATABASE ${database} OWNER ${server.user} ENCODING 'UTF8' TEMPLATE template0`);
  server.admin(
    [
      `SET ROLE ${server.user}`,
      'CREATE TABLE Company (companyId BIGINT NOT NULL PRIMARY KEY, webId VARCHAR(75), mx VARCHAR(200), active_ BOOLEAN)',
      'CREATE TABLE User_ (userId BIGINT NOT NULL PRIMARY KEY, companyId BIGINT, screenName VARCHAR(75), emailAddress VARCHAR(254), firstName VARCHAR(75), createDate TIMESTAMP, status INT)',
      'CREATE INDEX IX_U ON User_ (companyId, screenName)',
      'CREATE TABLE DLFileEntry (fileEntryId BIGINT NOT NULL PRIMARY KEY, companyId BIGINT, title VARCHAR(255), description TEXT, size_ BIGINT, version VARCHAR(75))',
      'CREATE TABLE DLContent (contentId BIGINT NOT NULL PRIMARY KEY, companyId BIGINT, path_ VARCHAR(255), version VARCHAR(75), data_ BYTEA, size_ BIGINT)',
      `INSERT INTO Company VALUES (20097, 'liferay.com', 'liferay.com', true), (20098, 'o''reilly\\', NULL, false)`,
      `INSERT INTO User_ SELECT i, 20097, 'user' || i, 'user' || i || '@liferay.com', CASE WHEN i % 7 = 0 THEN 'Jos\u00e9 \u00d1u\u00f1ez \u20ac \u{1F600}' ELSE 'First ''' || i || '''' END, TIMESTAMP '2026-01-01 00:00:00' + i * INTERVAL '1 second', i % 3 FROM generate_series(1, ${rows}) AS i`,
      `INSERT INTO DLFileEntry SELECT i, 20097, 'Document "' || i || '" \\ tab' || chr(9) || 'end', CASE WHEN i % 5 = 0 THEN NULL ELSE repeat('lorem ipsum ', 20) END, 1024, '1.0' FROM generate_series(1, ${rows}) AS i`,
      `INSERT INTO DLContent SELECT i, 20097, 'dl/' || i, '1.0', decode(${options.randomBlobs ? "(SELECT string_agg(md5(random()::text || i || j), '') FROM generate_series(1, 64) AS j)" : 'repeat(md5(i::text), 64)'} || '00ff27225c0a0d1a', 'hex'), 1032 FROM generate_series(1, ${rows}) AS i`,
    ].join(';\n'),
    database,
  );
}

/** Row count and a checksum of every table, comparable between two databases of one server. */
export function tableChecksums(server: DatabaseServer, database: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const table of TABLES) {
    if (server.engine === 'mariadb') {
      const count = server.admin(`SELECT COUNT(*) FROM ${table}`, database).trim();
      const checksum = server.admin(`CHECKSUM TABLE ${table} EXTENDED`, database).trim().split('\t')[1];
      out[table] = `${count}:${checksum}`;
    } else {
      const pk = server
        .admin(
          `SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = '${table.toLowerCase()}'::regclass AND i.indisprimary`,
          database,
        )
        .trim();
      out[table] = server
        .admin(
          `SELECT count(*) || ':' || md5(coalesce(string_agg(t::text, '|' ORDER BY ${pk}), '')) FROM ${table} t`,
          database,
        )
        .trim();
    }
  }
  return out;
}
