// The `liferay-backup` executable (bundled to dist/cli.mjs by `npm run build`). For a restore it
// may start itself again with a malloc setting (malloc-arenas.ts): decided here, before the rest
// of the CLI is loaded, so that the first process costs a bare Node.js start.
import { needsArenaLimit, rerunWithArenaLimit } from './malloc-arenas.ts';

if (!(needsArenaLimit(process.argv, process.env, process.platform) && (await rerunWithArenaLimit())))
  await import('./cli-main.ts');
