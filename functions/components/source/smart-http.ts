import { open } from 'node:fs/promises';
import type { getRemoteInfo2, HttpClient } from 'isomorphic-git';
import { NETWORK_CODES, RetryableError } from '#runtime/errors.ts';
import type { Remote } from './credentials.ts';
import { GitAuthenticationError, GitRemoteError } from './errors.ts';
import { GIT_ENV } from './local-options.ts';
import { type PackInfo, PackVerifier } from './pack-stream.ts';
import {
  ByteReader,
  demuxSideBand,
  FLUSH_PKT,
  type Pkt,
  pktLine,
  pktText,
  readPkt,
  SideBandError,
  TruncatedStreamError,
} from './pkt-line.ts';
import { type AdvertisedRef, type RefCommand, ZERO_OID } from './refs.ts';

export type GitService = 'git-upload-pack' | 'git-receive-pack';

/** What a server says about itself before any transfer. */
export interface Advertisement {
  readonly refs: AdvertisedRef[];
  /** Raw capability words (`side-band-64k`, `ofs-delta`, `agent=git/2.39.5`, ...). */
  readonly capabilities: ReadonlySet<string>;
}

export interface PushResult {
  /** Refs the remote updated. */
  readonly updated: string[];
  /** Lines the remote printed on the progress channel (hooks' messages). */
  readonly messages: string[];
}

export interface GitTransportOptions {
  readonly http: HttpClient;
  /** Bounds one pack transfer (upload-pack or receive-pack request and response). */
  readonly transferTimeoutMs: number;
  readonly agent: string;
  readonly progress?: (message: string) => void;
}

/**
 * The smart-HTTP protocol (gitprotocol-http, gitprotocol-pack) as the mirror needs it.
 *
 * Discovery is isomorphic-git's (getRemoteInfo2, protocol v1: refs, peeled tags, symrefs and
 * capabilities in one GET). The two transfers are written here because isomorphic-git lacks
 * them: its `fetch` asks only for branches and tags (notes and any other ref namespace are
 * dropped) and unpacks into a local repository, and its `push` sends one ref per request
 * (about 2 s per ref). Here one upload-pack request asks the source for every wanted tip,
 * naming the mirror's tips as "have" so the source sends only what the mirror lacks, and one
 * receive-pack request sends all ref commands with that same pack.
 */
export class GitTransport {
  constructor(private readonly options: GitTransportOptions) {}

  async discover(remote: Remote, service: GitService): Promise<Advertisement> {
    let info: Awaited<ReturnType<typeof getRemoteInfo2>>;
    try {
      info = await (await isomorphicGit()).getRemoteInfo2({
        http: this.options.http,
        url: remote.url,
        headers: remote.authorization ? { authorization: remote.authorization } : {},
        forPush: service === 'git-receive-pack',
        protocolVersion: 1,
      });
    } catch (error) {
      throw remoteError(error, remote, `list the refs of ${remote.url}`);
    }
    const capabilities = new Set<string>();
    for (const [key, value] of Object.entries(info.capabilities)) {
      capabilities.add(value === true ? key : `${key}=${value}`);
    }
    return { refs: (info.refs ?? []).map((ref) => ({ ...ref })), capabilities };
  }

  /**
   * Asks upload-pack for the objects reachable from `wants` and not from `haves`, and writes the
   * pack to `file`, checking its checksum as it arrives. `haves` the server does not know are
   * ignored by it, so the mirror's tips are always safe to offer.
   */
  async fetchPack(
    remote: Remote,
    advertisement: Advertisement,
    request: { wants: readonly string[]; haves: readonly string[]; ofsDelta: boolean; file: string },
  ): Promise<PackInfo> {
    if (request.wants.length === 0) throw new Error('fetchPack needs at least one want');
    const offered = advertisement.capabilities;
    const sideBand = offered.has('side-band-64k')
      ? 'side-band-64k'
      : offered.has('side-band')
        ? 'side-band'
        : undefined;
    if (!sideBand)
      throw new GitRemoteError(`${remote.url} does not offer side-band (not a smart-HTTP Git server?)`);
    const capabilities = [
      sideBand,
      ...(request.ofsDelta && offered.has('ofs-delta') ? ['ofs-delta'] : []),
      ...(this.options.progress ? [] : offered.has('no-progress') ? ['no-progress'] : []),
      ...this.agent(offered),
    ];
    const lines: Buffer[] = request.wants.map((oid, index) =>
      pktLine(index === 0 ? `want ${oid} ${capabilities.join(' ')}\n` : `want ${oid}\n`),
    );
    lines.push(FLUSH_PKT);
    for (const oid of request.haves) lines.push(pktLine(`have ${oid}\n`));
    lines.push(pktLine('done\n'));
    const body = Buffer.concat(lines);

    const handle = await open(request.file, 'w', 0o600);
    const verifier = new PackVerifier();
    try {
      const response = await this.post(remote, 'git-upload-pack', [body], body.length, 'fetch objects from');
      const reader = new ByteReader(response);
      // Acknowledgements (ACK/NAK, shallow info) come first; the first side-band packet starts the pack.
      let first: Pkt;
      for (;;) {
        first = await readPkt(reader);
        if (first.kind === 'end')
          throw new GitRemoteError(`${remote.url}: upload-pack ended before sending a pack`);
        if (first.kind !== 'data') continue;
        const text = first.data.toString('utf8');
        if (text.startsWith('ERR '))
          throw new GitRemoteError(`${remote.url}: upload-pack refused: ${pktText(first.data).slice(4)}`);
        if (/^(ACK|NAK|shallow|unshallow)\b/.test(text)) continue;
        break;
      }
      await demuxSideBand(
        reader,
        {
          data: async (chunk) => {
            verifier.update(chunk);
            await handle.write(chunk);
          },
          progress: (text) => this.options.progress?.(text.trim()),
        },
        first.data,
      );
      return verifier.finish();
    } catch (error) {
      if (error instanceof SideBandError)
        throw new GitRemoteError(`${remote.url}: ${error.message}`, { cause: error });
      throw remoteError(error, remote, `fetch objects from ${remote.url}`);
    } finally {
      await handle.close();
    }
  }

  /**
   * Sends every ref command in one receive-pack request, with the pack (when any ref is created
   * or updated), and reads the report: throws naming each rejected ref.
   */
  async push(
    remote: Remote,
    advertisement: Advertisement,
    commands: readonly RefCommand[],
    pack: { body: AsyncIterable<Uint8Array>; bytes: number } | undefined,
  ): Promise<PushResult> {
    if (commands.length === 0) return { updated: [], messages: [] };
    const offered = advertisement.capabilities;
    const deletes = commands.filter((command) => command.newOid === ZERO_OID);
    if (deletes.length > 0 && !offered.has('delete-refs')) {
      throw new GitRemoteError(`${remote.url} does not accept ref deletions (no delete-refs capability)`);
    }
    if (!offered.has('report-status')) throw new GitRemoteError(`${remote.url} does not offer report-status`);
    const needsPack = commands.some((command) => command.newOid !== ZERO_OID);
    if (needsPack && !pack) throw new Error('a push that creates or updates refs needs a pack');
    const capabilities = [
      'report-status',
      ...(offered.has('side-band-64k') ? ['side-band-64k'] : []),
      ...(deletes.length > 0 ? ['delete-refs'] : []),
      ...(offered.has('quiet') && !this.options.progress ? ['quiet'] : []),
      ...this.agent(offered),
    ];
    const head = Buffer.concat([
      ...commands.map((command, index) =>
        pktLine(
          `${command.oldOid} ${command.newOid} ${command.ref}${index === 0 ? `\0${capabilities.join(' ')}` : ''}\n`,
        ),
      ),
      FLUSH_PKT,
    ]);
    const parts: AsyncIterable<Uint8Array>[] = [toIterator([head])];
    if (needsPack && pack) parts.push(pack.body);
    const total = head.length + (needsPack && pack ? pack.bytes : 0);

    const messages: string[] = [];
    let reportBytes = Buffer.alloc(0);
    try {
      const response = await this.post(remote, 'git-receive-pack', concat(parts), total, 'push to');
      const reader = new ByteReader(response);
      if (offered.has('side-band-64k')) {
        await demuxSideBand(reader, {
          data: (chunk) => {
            reportBytes = Buffer.concat([reportBytes, chunk]);
          },
          progress: (text) => {
            for (const line of text.split(/[\r\n]+/)) if (line.trim()) messages.push(line.trim());
          },
        });
      } else {
        for await (const chunk of reader.rest()) reportBytes = Buffer.concat([reportBytes, chunk]);
      }
    } catch (error) {
      if (error instanceof SideBandError) {
        throw new GitRemoteError(`${remote.url}: push failed: ${error.remoteMessage}`, { cause: error });
      }
      throw remoteError(error, remote, `push to ${remote.url}`);
    }
    return { ...(await parseReport(remote, reportBytes, commands, messages)), messages };
  }

  /**
   * A client may send only capabilities the server offered (AWS CodeCommit aborts a push that
   * names an agent it did not ask for): ours only when the server names its own.
   */
  private agent(offered: ReadonlySet<string>): string[] {
    return [...offered].some((capability) => capability.startsWith('agent='))
      ? [`agent=${this.options.agent}`]
      : [];
  }

  private async post(
    remote: Remote,
    service: GitService,
    body: AsyncIterable<Uint8Array> | Uint8Array[],
    bytes: number,
    verb: string,
  ): Promise<AsyncIterable<Uint8Array>> {
    const response = await this.options.http.request({
      url: `${remote.url}/${service}`,
      method: 'POST',
      headers: {
        'content-type': `application/x-${service}-request`,
        accept: `application/x-${service}-result`,
        'content-length': String(bytes),
        ...(remote.authorization ? { authorization: remote.authorization } : {}),
      },
      body: toIterator(body),
      signal: AbortSignal.timeout(this.options.transferTimeoutMs),
    });
    if (response.statusCode !== 200) {
      await drain(response.body);
      throw statusError(response.statusCode, response.statusMessage, remote, `${verb} ${remote.url}`);
    }
    const type = response.headers?.['content-type'];
    if (type !== `application/x-${service}-result`) {
      await drain(response.body);
      throw new GitRemoteError(
        `${remote.url}: expected a ${service} result, got ${type ?? 'no content type'}`,
      );
    }
    return response.body ?? emptyBody();
  }
}

async function parseReport(
  remote: Remote,
  report: Buffer,
  commands: readonly RefCommand[],
  messages: readonly string[],
): Promise<{ updated: string[] }> {
  const reader = new ByteReader(toIterator([report]));
  const lines: string[] = [];
  for (;;) {
    const pkt = await readPkt(reader);
    if (pkt.kind === 'end' || pkt.kind === 'flush') break;
    if (pkt.kind === 'data') lines.push(pktText(pkt.data));
  }
  const remoteSaid = messages.length > 0 ? ` (remote: ${messages.slice(-5).join(' | ')})` : '';
  const unpack = lines.shift();
  if (unpack === undefined) throw new GitRemoteError(`${remote.url}: the push got no report${remoteSaid}`);
  if (unpack !== 'unpack ok') {
    throw new GitRemoteError(`${remote.url}: the remote could not store the pack: ${unpack}${remoteSaid}`);
  }
  const updated: string[] = [];
  const rejected: string[] = [];
  for (const line of lines) {
    if (line.startsWith('ok ')) updated.push(line.slice(3));
    else if (line.startsWith('ng ')) rejected.push(line.slice(3));
  }
  const reported = new Set([...updated, ...rejected.map((line) => line.split(' ')[0])]);
  const unreported = commands.filter((command) => !reported.has(command.ref)).map((command) => command.ref);
  if (rejected.length > 0 || unreported.length > 0) {
    const shown = rejected.slice(0, 20).join('; ');
    throw new GitRemoteError(
      `${remote.url} rejected ${rejected.length} of ${commands.length} ref update(s): ${shown}${rejected.length > 20 ? `; and ${rejected.length - 20} more` : ''}` +
        `${unreported.length > 0 ? `; no report for ${unreported.slice(0, 20).join(', ')}` : ''}${remoteSaid}`,
    );
  }
  return { updated };
}

async function* concat(parts: readonly AsyncIterable<Uint8Array>[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield* part;
}

async function* toIterator(
  body: AsyncIterable<Uint8Array> | Uint8Array[],
): AsyncIterableIterator<Uint8Array> {
  yield* body;
}

async function* emptyBody(): AsyncGenerator<Uint8Array> {}

async function drain(body: AsyncIterable<Uint8Array> | undefined): Promise<void> {
  if (!body) return;
  try {
    for await (const _ of body) {
      // discard
    }
  } catch {
    // the status already tells what went wrong
  }
}

/**
 * The runtime's network faults, but for a refused connection: a Git server that refuses is most
 * often a wrong URL or port, and the repository fails at once, naming it, rather than after the
 * workflow's retries (the other repositories go on either way).
 */
function transientCode(code: string): boolean {
  return code !== 'ECONNREFUSED' && NETWORK_CODES.has(code);
}

/**
 * A host that asks for credentials when none were sent: which of the two ways this code runs in
 * (a Lambda with the stack's configuration, or the CLI with its environment) is not known here,
 * so both ways to give them are named.
 */
export const NO_CREDENTIALS_GIVEN =
  "no credentials were given, and the host asks for them: on AWS, name the repository's credentials in the source configuration " +
  '(sourceCredentials, mirrorCredentials or defaultCredentials, naming SSM parameters; for a restore target, "credentials" in the request, naming one under restoreCredentialsPath); ' +
  `on the CLI, set ${GIT_ENV.token}, or ${GIT_ENV.username} and ${GIT_ENV.password} ` +
  `(a restore target: ${GIT_ENV.targetToken}, or ${GIT_ENV.targetUsername} and ${GIT_ENV.targetPassword}), ` +
  'or put user:password@ in the --git (or --git-target) URL';

function statusError(status: number, statusText: string, remote: Remote, what: string): Error {
  if (status === 401 || status === 403) {
    return new GitAuthenticationError(
      `could not ${what}: HTTP ${status} ${statusText}: ${
        remote.authorization === undefined
          ? NO_CREDENTIALS_GIVEN
          : `the host refused ${remote.credentialsLabel}`
      }`,
    );
  }
  if (status === 404)
    return new GitRemoteError(`could not ${what}: HTTP 404 (no such repository, or no access to it)`);
  if (status === 429 || status >= 500)
    return new RetryableError(`could not ${what}: HTTP ${status} ${statusText}`);
  return new GitRemoteError(`could not ${what}: HTTP ${status} ${statusText}`);
}

/**
 * isomorphic-git, loaded on first use (a CLI run without Git never parses it). Its error classes
 * can only have been thrown once it is loaded, so remoteError checks them only then.
 *
 * For Node.js the package exports its CommonJS build, and in the CLI's bundle (ES module chunks)
 * esbuild gives a dynamic import of CommonJS one export, `default`: the module is that default
 * there (every repository of a built CLI's backup failed on `git.Errors` being undefined), and
 * the namespace itself from the sources and the Lambda bundles.
 */
let git: typeof import('isomorphic-git') | undefined;
export async function isomorphicGit(): Promise<typeof import('isomorphic-git')> {
  if (!git) {
    const loaded = await import('isomorphic-git');
    git = 'Errors' in loaded ? loaded : (loaded as unknown as { default: typeof loaded }).default;
  }
  return git;
}

/** Turns a transport failure into a named error that says what could not be done and why. */
export function remoteError(error: unknown, remote: Remote, what: string): Error {
  if (
    error instanceof GitRemoteError ||
    error instanceof GitAuthenticationError ||
    error instanceof RetryableError
  ) {
    return error;
  }
  if (git && error instanceof git.Errors.HttpError) {
    const data = (error as { data?: { statusCode?: number; statusMessage?: string } }).data;
    return statusError(data?.statusCode ?? 0, data?.statusMessage ?? '', remote, what);
  }
  if (git && (error instanceof git.Errors.SmartHttpError || error instanceof git.Errors.ParseError)) {
    return new GitRemoteError(`could not ${what}: the server did not answer as a smart-HTTP Git server`, {
      cause: error,
    });
  }
  if (error instanceof TruncatedStreamError)
    return new RetryableError(`could not ${what}: ${error.message} (the connection was cut short)`, {
      cause: error,
    });
  const failure = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (failure?.name === 'TimeoutError' || failure?.name === 'AbortError') {
    return new RetryableError(`could not ${what}: no answer in time`, { cause: error });
  }
  const code = failure?.cause?.code;
  const reason = code ?? failure?.cause?.message ?? failure?.message ?? String(error);
  if (code && transientCode(code))
    return new RetryableError(`could not ${what}: ${reason}`, { cause: error });
  return new GitRemoteError(`could not ${what}: ${reason}`, { cause: error });
}
