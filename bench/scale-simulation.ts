/**
 * Scale on paper (issue 3, item 7): plans a synthetic listing of 10 million files / 5 TB with the
 * engine's real shard planner and projects the wall time of a first full backup and of a 1 %
 * nightly incremental on AWS, within S3's request rates, EFS's throughput and IOPS, and Lambda's
 * limits. No data is written or read: the listing is generated in index order and fed to
 * ShardCutter, the code Plan runs.
 *
 *   npm run bench -- --simulate            # or: npx tsx bench/scale-simulation.ts
 *   FILES=20000000 TIB=8 npx tsx bench/scale-simulation.ts
 *
 * Every assumption is a named constant below with its source. "Measured" means measured here by
 * `npm run bench` (README, Benchmarks); AWS figures are from AWS's
 * documentation as of 2026; what AWS does not publish is marked as an assumption.
 */

import { PLAN_WALK_BUDGET_MS, PLAN_WALK_CONCURRENCY } from '#components/files/backup-plan.ts';
import { MAX_ROUNDS } from '#components/files/events.ts';
import { comparePaths } from '#components/files/paths.ts';
import { filesSettingsSchema } from '#components/files/settings.ts';
import { ShardCutter } from '#components/files/shard-plan.ts';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

// ---------------------------------------------------------------------------------------------
// The synthetic Liferay Home.

/** Files in the tree (10 million: the case). */
const FILES = Number(process.env.FILES ?? 10_000_000);
/** Bytes in the tree: 5 TB (decimal, as the issue says). */
const TOTAL_BYTES = Number(process.env.TIB ?? 0) > 0 ? Number(process.env.TIB) * 2 ** 40 : 5e12;
/**
 * Shape of the document library, after the generator's medium set (../shared/bench/BASELINE.md):
 * every document version in a folder per file entry (Liferay's FileSystemStore and
 * AdvancedFileSystemStore), about 1.4 versions per entry; entries spread over 2 levels of
 * 100 hashed folders (AdvancedFileSystemStore splits names the same way).
 */
const VERSIONS_PER_ENTRY = 1.4;
const FANOUT = 100;
/** Sizes: 98.5 % between 10 KB and 1 MB, 1.5 % between 4 and 64 MB (log-uniform), scaled to TOTAL_BYTES. */
const SMALL_SHARE = 0.985;

// ---------------------------------------------------------------------------------------------
// The engine (settings defaults from functions/components/files/settings.ts, and measurements).

const SETTINGS = filesSettingsSchema.parse({ root: '/mnt/liferay/liferay-home' });
/** Distributed Map MaxConcurrency: cdk/components/files.ts default (`map.maxConcurrency`). */
const MAP_CONCURRENCY = Number(process.env.MAP_CONCURRENCY ?? 20);
/**
 * Filesystem calls in flight per shard (settings.fsConcurrency; the walk lists as many sibling
 * folders ahead, walk.ts) and in a first backup's Plan (PLAN_WALK_CONCURRENCY, 64); the EFS
 * functions run with UV_THREADPOOL_SIZE=64.
 */
const FS_CONCURRENCY = SETTINGS.fsConcurrency;
/** Shard time budget: a shard hands the rest of its range to the next round after this (settings). */
const SHARD_BUDGET_S = SETTINGS.shard.timeBudgetSeconds;
/**
 * CPU seconds per GiB backed up (read, sha256, packed or chunked, sent), measured: the medium
 * full backup (2.0 GiB, 18,970 files) took 6-7 CPU-seconds including start-up and walk.
 */
const CPU_S_PER_GIB = 2.8;
/** CPU per file read (open, read, hash, pack bookkeeping), measured from the same run. */
const CPU_MS_PER_CHANGED_FILE = 0.08;
/**
 * CPU per entry walked and merged with the previous index (stat, quick check, index line),
 * measured: an incremental shard of 32,300 entries takes about 0.8 CPU-seconds here with
 * synchronous calls; over EFS the calls are asynchronous and cost more (assumption: 30 µs).
 */
const CPU_US_PER_ENTRY = 30;
/**
 * CPU per entry of a first backup's Plan: its walk (asynchronous, as over EFS, with the Liferay
 * Home's rules and 64 threads in the pool) and the shard cutter, measured by bench/plan-cpu.ts
 * (`npm run bench -- --plan-cpu`) on the medium tree with its metadata in the page cache: 32 µs,
 * 23 of them in the kernel (64 threads waking for calls on two cores). Measured on two cores
 * because a function of 128 to 3,008 MB sees two and is throttled to its share of a vCPU
 * (https://github.com/rwnx/lambda-cpuinfo); pinned to one core (`taskset -c 0`) it is 21 µs.
 * ASSUMPTION: over EFS the NFS client's round trips cost the kernel about what the local lookups
 * and wake-ups cost here.
 */
const PLAN_CPU_US_PER_ENTRY = 32;
/**
 * Lambda allocates CPU in proportion to memory, 1,769 MB being one vCPU
 * (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html).
 */
const MB_PER_VCPU = 1769;
/**
 * PlanBackup's memory (cdk/components/files.ts): one vCPU. The model counts one vCPU at most: the
 * walk's JavaScript runs on one thread (the pool's kernel work could use a second; not measured).
 */
const PLAN_MEMORY_MB = 1769;
const PLAN_VCPUS = Math.min(1, PLAN_MEMORY_MB / MB_PER_VCPU);
/** Filesystem calls per file read: open, fstat, read, close (NFS: each one round trip at worst). */
const CALLS_PER_FILE_READ = 4;
/**
 * Finalize merges every shard's content list into the set's catalog (a line per file), measured
 * here at about 8 µs per line (19,000 lines in 0.15 s), plus the index.
 */
const FINALIZE_US_PER_FILE = 8;
/**
 * Finalize runs with 1,024 MB (cdk/components/files.ts, FinalizeBackup): 1024/1769 of a vCPU,
 * where the 8 µs above were measured on a whole core.
 */
const FINALIZE_VCPUS = 1024 / MB_PER_VCPU;
/** Fixed cost of one shard invocation: Lambda start, plan and index reads, result writes (assumption, seconds). */
const SHARD_OVERHEAD_S = 3;
/** Bytes and files a 1 % nightly incremental changes, after the generator's `--mutate 1` (BASELINE.md: 150 of 19,000 files, ~28 MB of 2 GB). */
const INCREMENTAL_FILE_SHARE = 0.008;
const INCREMENTAL_BYTE_SHARE = 0.0135;

// ---------------------------------------------------------------------------------------------
// AWS limits and rates.

/** Lambda: maximum timeout 900 s (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). */
const LAMBDA_TIMEOUT_S = 900;
/** A first backup's Plan lists the tree this long at most (backup-plan.ts), then hands the rest to its last shard. */
const PLAN_WALK_BUDGET_S = PLAN_WALK_BUDGET_MS / 1000;
/** Lambda: default concurrent executions per Region 1,000 (same page; can be raised). */
const LAMBDA_ACCOUNT_CONCURRENCY = 1000;
/** Copy shards have 1,769 MB (cdk/components/files.ts): one vCPU. */
const SHARD_VCPUS = 1769 / MB_PER_VCPU;
/**
 * ASSUMPTION (AWS publishes no per-function network bandwidth): one Lambda function moves about
 * 80 MiB/s to S3 in a single stream of PUTs. Public measurements range from tens to about 100 MB/s;
 * verify on the target account with one shard before relying on the totals.
 */
const LAMBDA_S3_MIB_S = 80;
/** S3: 3,500 PUT/COPY/POST/DELETE and 5,500 GET/HEAD per second per partitioned prefix (https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html). */
const S3_PUT_PER_PREFIX = 3500;
const S3_GET_PER_PREFIX = 5500;
/** Key layout: packs under objects/packs/<2 hex>/ and blobs under objects/blobs/<2 hex>/: 256 prefixes each (functions/components/files/keys.ts). */
const KEY_PREFIXES = 256;
/**
 * EFS, General Purpose mode, Regional (https://docs.aws.amazon.com/efs/latest/ug/performance.html):
 * read latency "as low as" 250 µs (ASSUMPTION: 1 ms per metadata call in practice under load);
 * per-client throughput 1,500 MiB/s (Elastic) or 500 MiB/s (Provisioned, Bursting); read IOPS
 * 250,000 by default (Elastic, frequently accessed data), 55,000 (Provisioned), 35,000 (Bursting);
 * per-file-system read throughput 20-60 GiB/s (Elastic), 3-10 (Provisioned), 3-5 (Bursting).
 * Bursting throughput: 50 MiB/s per TiB stored baseline, 100 MiB/s per TiB while credits last
 * (https://repost.aws/knowledge-center/efs-choosing-correct-throughput-mode).
 */
const EFS_CALL_LATENCY_S = Number(process.env.EFS_LATENCY_MS ?? 1) / 1000;
const EFS_MODES = {
  elastic: { readIops: 250_000, perClientMiBs: 1500, fileSystemMiBs: 20 * 1024 },
  provisioned: { readIops: 55_000, perClientMiBs: 500, fileSystemMiBs: 3 * 1024 },
  bursting: { readIops: 35_000, perClientMiBs: 500, fileSystemMiBs: 0 /* from size, below */ },
} as const;
type EfsMode = keyof typeof EFS_MODES;
/** The backup window the README quotes. */
const WINDOW_S = 4 * 3600;

// ---------------------------------------------------------------------------------------------

/** A small deterministic PRNG (mulberry32): the same listing on every run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Entry {
  readonly path: string;
  readonly size: number;
  readonly dir: boolean;
}

/** Files at or above the blob threshold are read in chunks, each checked with a HEAD before its PUT. */
const isLarge = (size: number) => size >= SETTINGS.blobThresholdBytes;

const pad = (n: number, width: number) => String(n).padStart(width, '0');
const logUniform = (next: () => number, min: number, max: number) => min * (max / min) ** next();
const meanLogUniform = (min: number, max: number) => (max - min) / Math.log(max / min);

/** The tree's entries in index order (a depth-first walk with children in name order). */
function* syntheticListing(): Generator<Entry> {
  const next = random(20101);
  const rawMean =
    SMALL_SHARE * meanLogUniform(10e3, 1e6) + (1 - SMALL_SHARE) * meanLogUniform(4 * MiB, 64 * MiB);
  const scale = TOTAL_BYTES / FILES / rawMean;
  const size = () =>
    Math.round(
      scale * (next() < SMALL_SHARE ? logUniform(next, 10e3, 1e6) : logUniform(next, 4 * MiB, 64 * MiB)),
    );
  yield { path: 'data', size: 0, dir: true };
  yield { path: 'data/document_library', size: 0, dir: true };
  yield { path: 'data/document_library/20101', size: 0, dir: true };
  const repository = 'data/document_library/20101/20125';
  yield { path: repository, size: 0, dir: true };
  const entries = Math.round(FILES / VERSIONS_PER_ENTRY);
  const perLeaf = Math.ceil(entries / (FANOUT * FANOUT));
  let files = 0;
  let entry = 0;
  for (let a = 0; a < FANOUT && files < FILES; a += 1) {
    const dirA = `${repository}/${pad(a, 2)}`;
    yield { path: dirA, size: 0, dir: true };
    for (let b = 0; b < FANOUT && files < FILES; b += 1) {
      const dirB = `${dirA}/${pad(b, 2)}`;
      yield { path: dirB, size: 0, dir: true };
      for (let i = 0; i < perLeaf && files < FILES; i += 1, entry += 1) {
        const fileEntry = `${dirB}/${pad(entry, 9)}.pdf`;
        yield { path: fileEntry, size: 0, dir: true };
        const versions = next() < VERSIONS_PER_ENTRY - 1 ? 2 : 1;
        for (let v = 0; v < versions && files < FILES; v += 1, files += 1)
          yield { path: `${fileEntry}/1.${v}`, size: size(), dir: false };
      }
    }
  }
  yield { path: 'osgi', size: 0, dir: true };
  yield { path: 'osgi/configs', size: 0, dir: true };
  yield { path: 'portal-ext.properties', size: 2000, dir: false };
}

interface Listing {
  entries: number;
  files: number;
  dirs: number;
  bytes: number;
  largeBytes: number;
  shards: ReturnType<ShardCutter['finish']>;
  seconds: number;
}

function planListing(): Listing {
  const started = Date.now();
  const cutter = new ShardCutter({ maxFiles: SETTINGS.shard.maxFiles, maxBytes: SETTINGS.shard.maxBytes });
  let previous: string | undefined;
  const listing = { entries: 0, files: 0, dirs: 0, bytes: 0, largeBytes: 0 };
  for (const entry of syntheticListing()) {
    // The planner needs index order; check it on the way (comparePaths is what the walk produces).
    if (previous !== undefined && comparePaths(previous, entry.path) >= 0)
      throw new Error(`synthetic listing out of order at ${entry.path}`);
    previous = entry.path;
    cutter.add(entry.path, 1, entry.size);
    listing.entries += 1;
    if (entry.dir) listing.dirs += 1;
    else {
      listing.files += 1;
      listing.bytes += entry.size;
      if (isLarge(entry.size)) listing.largeBytes += entry.size;
    }
  }
  return { ...listing, shards: cutter.finish(), seconds: (Date.now() - started) / 1000 };
}

const fmtTime = (seconds: number) =>
  seconds < 120
    ? `${seconds.toFixed(0)} s`
    : seconds < 3 * 3600
      ? `${(seconds / 60).toFixed(0)} min`
      : `${(seconds / 3600).toFixed(1)} h`;
const fmtBytes = (bytes: number) =>
  bytes >= 2 ** 40 ? `${(bytes / 2 ** 40).toFixed(2)} TiB` : `${(bytes / GiB).toFixed(1)} GiB`;

interface Projection {
  readonly mode: EfsMode;
  readonly planSeconds: number;
  readonly copySeconds: number;
  readonly finalizeSeconds: number;
  readonly total: number;
  readonly binding: string;
  readonly perShardMiBs: number;
  readonly putsPerSecond: number;
  readonly getsPerSecond: number;
  readonly rounds: number;
}

/**
 * Wall time of one backup: Plan, then the shards MAP_CONCURRENCY at a time, then Finalize.
 * Each shard is limited by the slowest of its CPU, its network to S3, its EFS client throughput
 * and its EFS calls; all shards together by the file system's IOPS and throughput.
 */
function project(listing: Listing, mode: EfsMode, kind: 'full' | 'incremental'): Projection {
  const efs = EFS_MODES[mode];
  const changedFiles = kind === 'full' ? listing.files : listing.files * INCREMENTAL_FILE_SHARE;
  const changedBytes = kind === 'full' ? listing.bytes : listing.bytes * INCREMENTAL_BYTE_SHARE;
  const fileSystemMiBs =
    mode === 'bursting'
      ? // While credits last: 100 MiB/s per TiB stored (a first backup of 5 TB reads for hours;
        // the baseline, half of that, is what a long read is left with once credits are spent).
        Math.max(100, (listing.bytes / 2 ** 40) * 100)
      : efs.fileSystemMiBs;

  // Plan: a first backup walks the tree once in one function; later ones cut from the previous index.
  const walkCalls = listing.entries + listing.dirs; // an lstat per entry, a readdir per folder
  const planSeconds = kind === 'full' ? planWalkSeconds(listing, mode) : 5;

  // Copy shards.
  const shards = listing.shards.length;
  const concurrency = Math.min(MAP_CONCURRENCY, shards, LAMBDA_ACCOUNT_CONCURRENCY);
  const cpuSeconds =
    (changedBytes / GiB) * CPU_S_PER_GIB +
    (changedFiles * CPU_MS_PER_CHANGED_FILE) / 1000 +
    (listing.entries * CPU_US_PER_ENTRY) / 1e6;
  const calls = walkCalls + changedFiles * CALLS_PER_FILE_READ;
  // Per shard (the work is spread evenly by the planner's limits): the slowest resource.
  const perShard = {
    cpu: cpuSeconds / shards / SHARD_VCPUS,
    network: changedBytes / shards / (LAMBDA_S3_MIB_S * MiB),
    efsClient: changedBytes / shards / (efs.perClientMiBs * MiB),
    efsCalls: (calls / shards) * (EFS_CALL_LATENCY_S / FS_CONCURRENCY),
  };
  const shardSeconds = Math.max(...Object.values(perShard)) + SHARD_OVERHEAD_S;
  const waves = Math.ceil(shards / concurrency);
  let copySeconds = waves * shardSeconds;
  let binding = `per shard: ${Object.entries(perShard).sort((a, b) => b[1] - a[1])[0]?.[0]}`;
  // The file system as a whole.
  const iopsSeconds = calls / efs.readIops;
  const throughputSeconds = changedBytes / (fileSystemMiBs * MiB);
  if (iopsSeconds > copySeconds) {
    copySeconds = iopsSeconds;
    binding = `EFS read IOPS (${efs.readIops.toLocaleString('en')}/s)`;
  }
  if (throughputSeconds > copySeconds) {
    copySeconds = throughputSeconds;
    binding = `EFS throughput (${fileSystemMiBs.toFixed(0)} MiB/s)`;
  }
  // S3: PUTs of packs and chunks (16 MiB each) and of index parts; spread over 2 × 256 prefixes.
  const puts = changedBytes / SETTINGS.packBytes + shards * 3;
  const putsPerSecond = puts / copySeconds;
  if (putsPerSecond > S3_PUT_PER_PREFIX * KEY_PREFIXES) binding = 'S3 PUT rate';
  // GET and HEAD: a HEAD per chunk of a changed large file, the previous index's parts (incremental).
  const changedLargeBytes =
    kind === 'full' ? listing.largeBytes : listing.largeBytes * INCREMENTAL_BYTE_SHARE;
  const gets = changedLargeBytes / SETTINGS.chunkBytes + (kind === 'full' ? 0 : shards * 2);
  const getsPerSecond = gets / copySeconds;
  if (getsPerSecond > S3_GET_PER_PREFIX * KEY_PREFIXES) binding = 'S3 GET rate';
  // Finalize: merges every shard's content list into the catalog (a line per file) and writes the index.
  const finalizeSeconds = 10 + (listing.files * FINALIZE_US_PER_FILE) / 1e6 / FINALIZE_VCPUS;
  const rounds = Math.max(1, Math.ceil(shardSeconds / SHARD_BUDGET_S));
  return {
    mode,
    planSeconds,
    copySeconds,
    finalizeSeconds,
    total: planSeconds + copySeconds + finalizeSeconds,
    binding,
    perShardMiBs: changedBytes / shards / MiB / Math.max(1, shardSeconds - SHARD_OVERHEAD_S),
    putsPerSecond,
    getsPerSecond,
    rounds,
  };
}

/** Scales a listing (same shape) by a factor: for "how large fits in the window". */
function scaled(listing: Listing, factor: number): Listing {
  const shards = Math.max(1, Math.round(listing.shards.length * factor));
  return {
    ...listing,
    entries: listing.entries * factor,
    files: listing.files * factor,
    dirs: listing.dirs * factor,
    bytes: listing.bytes * factor,
    largeBytes: listing.largeBytes * factor,
    shards: Array.from({ length: shards }, () => ({ entries: 0, bytes: 0 })),
  };
}

function largestInWindow(listing: Listing, mode: EfsMode, kind: 'full' | 'incremental'): number {
  let low = 0.001;
  let high = 1000;
  for (let i = 0; i < 60; i += 1) {
    const mid = Math.sqrt(low * high);
    const p = project(scaled(listing, mid), mode, kind);
    if (p.total <= WINDOW_S && p.planSeconds <= PLAN_WALK_BUDGET_S && p.finalizeSeconds <= LAMBDA_TIMEOUT_S)
      low = mid;
    else high = mid;
  }
  return low;
}

/**
 * A first backup's Plan walking the whole tree in one function: bound by EFS (its calls in flight
 * over their latency, or the file system's IOPS) or by its own CPU, whichever is slower.
 */
function planWalk(listing: Listing, mode: EfsMode): { efs: number; cpu: number } {
  const callsPerSecond = Math.min(PLAN_WALK_CONCURRENCY / EFS_CALL_LATENCY_S, EFS_MODES[mode].readIops);
  return {
    efs: (listing.entries + listing.dirs) / callsPerSecond,
    cpu: (listing.entries * PLAN_CPU_US_PER_ENTRY) / 1e6 / PLAN_VCPUS,
  };
}

function planWalkSeconds(listing: Listing, mode: EfsMode): number {
  const { efs, cpu } = planWalk(listing, mode);
  return Math.max(efs, cpu);
}

/** Files one Plan invocation lists before it stops (PLAN_WALK_BUDGET_S). */
function planCapacity(listing: Listing, mode: EfsMode): number {
  return (PLAN_WALK_BUDGET_S / planWalkSeconds(listing, mode)) * listing.files;
}

function main(): void {
  const listing = planListing();
  const sizes = listing.shards.map((shard) => shard.entries);
  const out: string[] = [];
  out.push(
    `## Scale simulation: ${listing.files.toLocaleString('en')} files, ${fmtBytes(listing.bytes)} (${(listing.bytes / 1e12).toFixed(2)} TB)`,
    '',
    `Synthetic listing: ${listing.entries.toLocaleString('en')} entries (${listing.dirs.toLocaleString('en')} folders), planned by ShardCutter in ${listing.seconds.toFixed(1)} s.`,
    `Shards (maxFiles ${SETTINGS.shard.maxFiles.toLocaleString('en')} entries, maxBytes ${fmtBytes(SETTINGS.shard.maxBytes)}): ${listing.shards.length}, ${Math.min(...sizes).toLocaleString('en')}-${Math.max(...sizes).toLocaleString('en')} entries each; Map concurrency ${Math.min(MAP_CONCURRENCY, listing.shards.length)} (map.maxConcurrency ${MAP_CONCURRENCY}; account limit ${LAMBDA_ACCOUNT_CONCURRENCY}).`,
    `Assumptions: EFS call latency ${EFS_CALL_LATENCY_S * 1000} ms, ${FS_CONCURRENCY} calls in flight per shard and ${PLAN_WALK_CONCURRENCY} in Plan, Plan's CPU ${PLAN_CPU_US_PER_ENTRY} µs per entry at ${PLAN_VCPUS.toFixed(2)} vCPU, ${LAMBDA_S3_MIB_S} MiB/s to S3 per function (not published by AWS), ${CPU_S_PER_GIB} CPU-s per GiB, shard budget ${SHARD_BUDGET_S} s.`,
    '',
    '| backup | EFS throughput mode | Plan | shards (copy) | Finalize | total | binding limit | per shard | S3 PUT/s | S3 GET+HEAD/s |',
    '|---|---|---|---|---|---|---|---|---|---|',
  );
  for (const kind of ['full', 'incremental'] as const) {
    for (const mode of Object.keys(EFS_MODES) as EfsMode[]) {
      const p = project(listing, mode, kind);
      const planFlag = p.planSeconds > PLAN_WALK_BUDGET_S ? ` **over ${PLAN_WALK_BUDGET_S / 60} min**` : '';
      out.push(
        `| ${kind === 'full' ? 'first full' : '1 % incremental'} | ${mode} | ${fmtTime(p.planSeconds)}${planFlag} | ${fmtTime(p.copySeconds)} | ${fmtTime(p.finalizeSeconds)} | **${fmtTime(p.total)}** | ${p.binding} | ${p.perShardMiBs.toFixed(0)} MiB/s | ${p.putsPerSecond.toFixed(0)} | ${p.getsPerSecond.toFixed(0)} |`,
      );
    }
  }
  out.push(
    '',
    `S3 limits: ${S3_PUT_PER_PREFIX.toLocaleString('en')} PUT and ${S3_GET_PER_PREFIX.toLocaleString('en')} GET/HEAD per second per partitioned prefix; packs and blobs spread over ${KEY_PREFIXES} prefixes each, so even one unpartitioned prefix would carry these rates. Bursting assumes a full burst-credit balance (with none, its throughput is half).`,
    '',
    `| EFS throughput mode | largest tree for a 4-hour first backup (Plan within its ${PLAN_WALK_BUDGET_S / 60} min, Finalize within 15 min) | for a 4-hour 1 % incremental (Finalize within 15 min; once a first backup exists) | files one Plan lists in ${PLAN_WALK_BUDGET_S / 60} min |`,
    '|---|---|---|---|',
  );
  for (const mode of Object.keys(EFS_MODES) as EfsMode[]) {
    const full = largestInWindow(listing, mode, 'full');
    const incremental = largestInWindow(listing, mode, 'incremental');
    out.push(
      `| ${mode} | ${((listing.files * full) / 1e6).toFixed(1)} M files, ${fmtBytes(listing.bytes * full)} | ${((listing.files * incremental) / 1e6).toFixed(0)} M files, ${fmtBytes(listing.bytes * incremental)} | ${(planCapacity(listing, mode) / 1e6).toFixed(1)} M files |`,
    );
  }
  const capacity = planCapacity(listing, 'elastic');
  const walk = planWalk(listing, 'elastic');
  const bound =
    walk.cpu >= walk.efs
      ? `bound by its own CPU (${PLAN_CPU_US_PER_ENTRY} µs per entry at ${PLAN_VCPUS.toFixed(2)} vCPU; EFS at ${EFS_CALL_LATENCY_S * 1000} ms per call would allow ${fmtTime(walk.efs)} for this tree, its CPU needs ${fmtTime(walk.cpu)})`
      : `bound by EFS at ${EFS_CALL_LATENCY_S * 1000} ms per call (its CPU would need ${fmtTime(walk.cpu)} of the ${fmtTime(walk.efs)})`;
  out.push(
    '',
    capacity < listing.files
      ? `**The first backup's Plan is the binding limit:** one function walks the whole tree before any shard starts, and it lists about ${(capacity / 1e6).toFixed(1)} M files in the ${PLAN_WALK_BUDGET_S / 60} minutes it may, ${bound}; this tree has ${(listing.files / 1e6).toFixed(1)} M. Plan stops listing there and its last shard copies the rest in rounds, one after another (${SHARD_BUDGET_S} s each, at most ${MAX_ROUNDS}): the first set is slow, and this model does not project it.`
      : `The first backup's Plan (one function walking the whole tree) lists about ${(capacity / 1e6).toFixed(1)} M files in the ${PLAN_WALK_BUDGET_S / 60} minutes it may, ${bound}: ${(listing.files / 1e6).toFixed(1)} M fit, with ${(((capacity - listing.files) / capacity) * 100).toFixed(0)} % to spare. Incremental backups cut their shards from the previous index and never walk in Plan.`,
  );
  console.log(out.join('\n'));
}

main();
