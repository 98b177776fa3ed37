import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type DatabaseServer,
  freePort,
  type PortPicker,
  startMariaDb,
  startPostgres,
} from './database-servers.ts';

/**
 * The port a test server is given is free when picked, but another test file's server can bind it
 * before this one starts: the start then moves on to another port instead of failing the test.
 */
describe('test database servers on a port taken after it was picked', () => {
  let holder: Server | undefined;
  let server: DatabaseServer | undefined;

  afterEach(async () => {
    await server?.stop();
    server = undefined;
    await new Promise((resolve) => (holder ? holder.close(resolve) : resolve(undefined)));
    holder = undefined;
  });

  /** Binds a port the way another server would, then hands it out first: the race, made certain. */
  async function takenThenFree(): Promise<{ taken: number; picker: PortPicker; picks: () => number }> {
    const taken = await freePort();
    holder = createServer();
    await new Promise<void>((resolve) => holder?.listen(taken, '127.0.0.1', resolve));
    let picks = 0;
    return {
      taken,
      picker: async () => (++picks === 1 ? taken : freePort()),
      picks: () => picks,
    };
  }

  it.each([
    ['MariaDB', startMariaDb],
    ['PostgreSQL', startPostgres],
  ])(
    '%s starts on the next port picked',
    async (_engine, start) => {
      const { taken, picker, picks } = await takenThenFree();
      server = await start(picker);
      expect(picks()).toBe(2);
      expect(server.port).not.toBe(taken);
      expect(server.admin('SELECT 6 * 7').trim()).toBe('42');
    },
    120_000,
  );
});
