// The `liferay-backup` executable (bundled to dist/cli.mjs by `npm run build`).
// First: the schemas built by the modules below read this setting.
import './zod-jitless.ts';
import { main } from './cli.ts';
// Registers `demo` (what `npm start` runs) in the CLI's extra commands.
import './demo.ts';
import { startHeapGovernor } from './heap-governor.ts';
// Registers `retention`.
import './retention-command.ts';
// Registers `verify` (the restore drill).
import './verify-command.ts';

startHeapGovernor();
// `liferay-backup show latest | head` closes the pipe before the output ends: the rest has no reader,
// which is no failure of the command (Node.js would throw EPIPE from the next console.log).
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});
// The AWS SDK prints nine lines on every run under Node.js 20 (its releases from January 2027 need
// Node.js 22; the versions in package-lock.json run on 20). The README says so once; an SRE
// restoring at night should not read it on every command. Set it to "false" to see it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const code = await main(process.argv.slice(2), { out: (line) => console.log(line), err: process.stderr });
process.exitCode = code;
// An interrupted backup (128 + the signal's number) gave its lock back: it exits now, not when the
// tasks still in flight (a shard walking its range) would have finished (functions/local/interrupt.ts).
if (code > 128) process.exit(code);
