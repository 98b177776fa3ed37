// Bundles the CLI (functions/local/main.ts) into dist/cli.mjs with the local esbuild, so that a
// CLI run starts built JavaScript and never synthesizes the CDK app.
//
// Start-up counts (a 1 % incremental backup takes well under a second of work): the bundle is
// split into ESM chunks (`splitting`), and the adapters import their heavy clients (search
// engines, Git, RDS, SSM, Lambda) with `import()`, so a files-only run never loads or parses them.
//
//   node scripts/build-cli.mjs            # dist/cli.mjs, dist/chunks/*.mjs and dist/liferay-backup (the executable)
//   node scripts/build-cli.mjs --analyze  # also prints what the start path loads, by package
//   node scripts/build-cli.mjs --outdir DIR  # elsewhere (the tests build their own copy)
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { build } from 'esbuild';

const outdirFlag = process.argv.indexOf('--outdir');
const OUT_DIR = outdirFlag > 0 ? process.argv[outdirFlag + 1] : 'dist';
const ENTRY = path.join(OUT_DIR, 'cli.mjs');
const LAUNCHER = path.join(OUT_DIR, 'liferay-backup');

/**
 * The `liferay-backup` executable (package.json `bin`): Node.js on cli.mjs, with one malloc setting
 * that glibc reads only when a process starts. glibc serves a block of 128 KiB or more with mmap and
 * unmaps it when it is freed, until the first such block is freed: from then on it raises that
 * limit to the block's size (up to 32 MiB), and blocks below it come from the heap, which it can
 * give back only from the top. Node.js frees such blocks from its first module loads on, and the
 * backup's 16 MiB upload buffers raise the limit to 16 MiB. On the 10x tree (190,000 files, 11.7 GB)
 * a full backup's malloc heap then grew by 70-85 MB over the run, and its peak was 238-266 MiB
 * across runs; with the limit fixed at 128 KiB it grew by 15 MB and peaked at 215 MiB; on the medium
 * set the full backup peaked at 197 MiB instead of 213 and the restore at 172 instead of 193, in the
 * same time. A setting given by the caller is kept; `exec` leaves one process (signals reach the
 * CLI itself).
 */
const LAUNCHER_SCRIPT = `#!/bin/sh
# liferay-backup: runs cli.mjs beside this file with glibc's mmap threshold fixed (scripts/build-cli.mjs says why).
export MALLOC_MMAP_THRESHOLD_="\${MALLOC_MMAP_THRESHOLD_:-131072}"
exec node "$(dirname "$(readlink -f "$0")")/cli.mjs" "$@"
`;
const HERE = path.resolve(import.meta.dirname, '..');

/**
 * aws-local-stepfunctions imports three things at its top that a CLI run never calls: the Lambda
 * client and Cognito credentials (used only for a Task without a local handler; run-workflow.ts
 * binds every Task to one, or refuses to start), and asl-validator (the CLI runs the committed
 * definitions with `validate: false`; tests validate them, test/local/workflow-definitions.test.ts).
 * Together they are about 0.2 s and 30 MB of every start. In the CLI bundle, those imports of the
 * interpreter resolve to stand-ins that throw if they are ever called.
 */
const interpreterStandIns = {
  name: 'interpreter-stand-ins',
  setup(pluginBuild) {
    const fromInterpreter = (args) => args.importer.includes(`${path.sep}aws-local-stepfunctions${path.sep}`);
    pluginBuild.onResolve(
      { filter: /^(@aws-sdk\/client-lambda|@aws-sdk\/credential-providers|asl-validator)$/ },
      (args) => (fromInterpreter(args) ? { path: args.path, namespace: 'interpreter-stand-in' } : undefined),
    );
    pluginBuild.onLoad({ filter: /.*/, namespace: 'interpreter-stand-in' }, (args) => {
      const fail = `throw new Error(${JSON.stringify(`the CLI build leaves out ${args.path} (scripts/build-cli.mjs): the local interpreter called it`)});`;
      const contents = {
        '@aws-sdk/client-lambda': `export class LambdaClient { constructor() { ${fail} } }\nexport class InvokeCommand { constructor() { ${fail} } }`,
        '@aws-sdk/credential-providers': `export function fromCognitoIdentityPool() { ${fail} }`,
        'asl-validator': `export default function aslValidator() { ${fail} }`,
      }[args.path];
      return { contents, loader: 'js' };
    });
  },
};

rmSync(OUT_DIR, { recursive: true, force: true });
const result = await build({
  entryPoints: { cli: path.join(HERE, 'functions/local/main.ts') },
  outdir: OUT_DIR,
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  platform: 'node',
  // The AWS SDK's ES modules (dist-es) rather than its CommonJS (dist-cjs): esbuild drops the
  // commands and credential providers a run does not use (the credential chain imports them with
  // import(), so they become chunks), and CommonJS's eager module wrappers go. Start path 2744 ->
  // 2171 KiB, --help 190 -> 170 ms. Only the SDK and flatbuffers resolve differently (both builds
  // of a package never meet: test/local/built-cli.test.ts).
  mainFields: ['module', 'main'],
  target: 'node20',
  format: 'esm',
  sourcemap: true,
  // Not minified, so a name changes only where scope hoisting must rename a clash (S3Client ->
  // S3Client3); our errors set `name` themselves (functions/runtime/errors.ts). keepNames wrapped
  // every function and class in a __name() call at load: 88 KiB and ~10 ms of each start.
  keepNames: false,
  metafile: true,
  logLevel: 'warning',
  plugins: [interpreterStandIns],
  // CommonJS dependencies bundled into ESM need require(); esbuild leaves it to the host (every chunk is a module of its own).
  banner: {
    js: "import { createRequire as __createRequire } from 'node:module';\nconst require = __createRequire(import.meta.url);",
  },
});
writeFileSync(ENTRY, `#!/usr/bin/env node\n${readFileSync(ENTRY, 'utf8')}`);
chmodSync(ENTRY, 0o755);
writeFileSync(LAUNCHER, LAUNCHER_SCRIPT);
chmodSync(LAUNCHER, 0o755);
writeFileSync(path.join(OUT_DIR, 'meta.json'), JSON.stringify(result.metafile));

if (process.argv.includes('--analyze')) {
  const outputs = result.metafile.outputs;
  // The start path: the entry and the chunks it imports statically (not the import() ones).
  const start = new Set();
  const visit = (file) => {
    if (start.has(file)) return;
    start.add(file);
    for (const imported of outputs[file].imports)
      if (imported.kind === 'import-statement' && !imported.external) visit(imported.path);
  };
  visit(Object.keys(outputs).find((file) => outputs[file].entryPoint?.endsWith('functions/local/main.ts')));
  const byPackage = new Map();
  let total = 0;
  for (const file of start) {
    for (const [input, { bytesInOutput }] of Object.entries(outputs[file].inputs)) {
      const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
      const name = match ? match[1] : path.relative(HERE, input).split('/').slice(0, 3).join('/');
      byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
      total += bytesInOutput;
    }
  }
  const lazy = Object.keys(outputs).filter((file) => file.endsWith('.mjs') && !start.has(file));
  const lazyBytes = lazy.reduce((sum, file) => sum + outputs[file].bytes, 0);
  console.log(
    `start path: ${start.size} files, ${(total / 1024).toFixed(0)} KiB; loaded on demand: ${lazy.length} chunks, ${(lazyBytes / 1024).toFixed(0)} KiB`,
  );
  for (const [name, bytes] of [...byPackage].sort((a, b) => b[1] - a[1]).slice(0, 30))
    console.log(`${(bytes / 1024).toFixed(0).padStart(8)} KiB  ${name}`);
}
