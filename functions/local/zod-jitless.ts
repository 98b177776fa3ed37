import * as z from 'zod';

/**
 * zod compiles a fast parser (new Function) for every object schema the first time it parses with
 * it: worth it for a schema parsed thousands of times, not for the CLI's, each parsed a few times
 * (the files engine checks its hot lines with hand-written guards). Measured on a 1 % incremental
 * backup: zod's share of the run 41 -> 25 ms of CPU. zod reads the setting when it builds a
 * schema, so main.ts imports this module before any other.
 */
z.config({ jitless: true });
