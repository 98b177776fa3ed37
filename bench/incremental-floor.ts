/**
 * `npm run bench -- --floor`: the least any Node.js incremental backup of the benchmark's tree
 * can take on this machine, without this engine: the process start with the S3 client loaded,
 * and a bare walk of the tree (readdirSync and lstatSync of every entry, nothing compared,
 * hashed or sent), on one thread and split over two worker threads. The README's incremental
 * paragraph quotes these numbers against the 0.25 × restic target.
 *
 *   npx tsx bench/incremental-floor.ts [DIR]   # default: the generated medium tree
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { median } from './run.ts';

const RUNS = 5;

/** Entries beneath dir, each listed and lstat'ed the way the engine's synchronous walk does. */
function walk(dir: string): number {
  let entries = 0;
  for (const name of readdirSync(dir).sort()) {
    const child = `${dir}/${name}`;
    entries += 1;
    if (lstatSync(child).isDirectory()) entries += walk(child);
  }
  return entries;
}

/** The tree's second-level entries, dealt alternately to two threads so both get a share of every folder. */
function halves(root: string): [string[], string[]] {
  const units: string[] = [];
  for (const name of readdirSync(root).sort()) {
    const top = `${root}/${name}`;
    if (lstatSync(top).isDirectory())
      for (const child of readdirSync(top).sort()) units.push(`${top}/${child}`);
    else units.push(top);
  }
  return [units.filter((_, i) => i % 2 === 0), units.filter((_, i) => i % 2 === 1)];
}

/**
 * The worker's walk, as plain JavaScript: a worker started from this TypeScript file would not
 * get tsx's loader. The same calls as walk() above.
 */
const WORKER_SOURCE = `
const { readdirSync, lstatSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
function walk(dir) {
  let entries = 0;
  for (const name of readdirSync(dir).sort()) {
    const child = dir + '/' + name;
    entries += 1;
    if (lstatSync(child).isDirectory()) entries += walk(child);
  }
  return entries;
}
let entries = 0;
for (const unit of workerData) {
  entries += 1;
  if (lstatSync(unit).isDirectory()) entries += walk(unit);
}
parentPort.postMessage(entries);
`;

function inWorker(units: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: units });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`;
}

async function main(): Promise<void> {
  const root = path.resolve(process.argv[2] ?? '/tmp/liferay-backup-bench/medium');
  if (!existsSync(root))
    throw new Error(`${root} does not exist: run the files benchmark first, or name a tree`);
  const startWithClient: number[] = [];
  const oneThread: number[] = [];
  const twoThreads: number[] = [];
  let counted = 0;
  for (let run = 0; run < RUNS; run += 1) {
    let started = performance.now();
    const node = spawnSync(process.execPath, [
      '--input-type=module',
      '-e',
      "await import('@aws-sdk/client-s3')",
    ]);
    if (node.status !== 0) throw new Error(`node with @aws-sdk/client-s3 failed: ${node.stderr}`);
    startWithClient.push(performance.now() - started);
    started = performance.now();
    counted = walk(root);
    oneThread.push(performance.now() - started);
    started = performance.now();
    const [a, b] = halves(root);
    const split = (await Promise.all([inWorker(a), inWorker(b)])).reduce((sum, n) => sum + n, 0);
    twoThreads.push(performance.now() - started);
    // The threads start at the second level: the top level's folders are not among their entries.
    const topFolders = readdirSync(root).filter((name) => lstatSync(`${root}/${name}`).isDirectory()).length;
    if (split + topFolders !== counted)
      throw new Error(`the two threads walked ${split + topFolders} entries, one thread ${counted}`);
  }
  console.log(`tree: ${root}, ${counted} entries; medians of ${RUNS} runs`);
  console.log(`node start and end with @aws-sdk/client-s3 loaded: ${seconds(median(startWithClient))}`);
  console.log(`bare walk, one thread:                          ${seconds(median(oneThread))}`);
  console.log(`bare walk, two worker threads (start included):  ${seconds(median(twoThreads))}`);
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
