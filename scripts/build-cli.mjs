// Bundles the CLI (functions/local/main.ts) into dist/cli.mjs with the local esbuild, so that a
// CLI run starts built JavaScript and never synthesizes the CDK app.
import { chmodSync } from 'node:fs';
import { build } from 'esbuild';

await build({
  entryPoints: ['functions/local/main.ts'],
  outfile: 'dist/cli.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  keepNames: true,
  logLevel: 'warning',
  // CommonJS dependencies bundled into ESM need require(); esbuild leaves it to the host.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);",
  },
});
chmodSync('dist/cli.mjs', 0o755);
