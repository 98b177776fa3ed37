import * as z from 'zod';
import { GIT_ENV } from './local-options.ts';
import { REF_PATTERN } from './refs.ts';

/**
 * The source component's settings (what its Lambdas get from the stack, or the CLI from flags),
 * its restore request, and the record it leaves in the manifest. Secrets never appear here: only
 * the names of SSM parameters or environment variables that hold them (and, in the CLI only, a
 * URL's user info, which is stripped before the URL is recorded or logged).
 */

const ssmParameterName = z
  .string()
  .regex(/^[A-Za-z0-9_.\-/]{1,2048}$/, 'an SSM parameter name like /liferay/git/token');
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'an environment variable name');
const username = z.string().min(1).max(256);

/**
 * How to authenticate to a Git host over HTTPS (basic auth). A token is sent as the password with
 * a fixed user name (`x-access-token` suits GitHub; GitLab and Azure DevOps accept any name,
 * Bitbucket Cloud wants `x-token-auth`). On AWS the secrets are SSM SecureString parameters.
 */
export const ssmCredentialsSchema = z.union([
  z.strictObject({ tokenParameter: ssmParameterName, username: username.default('x-access-token') }),
  z
    .strictObject({
      passwordParameter: ssmParameterName,
      username: username.optional(),
      usernameParameter: ssmParameterName.optional(),
    })
    .refine((value) => (value.username === undefined) !== (value.usernameParameter === undefined), {
      message: 'give username or usernameParameter (one of them) with passwordParameter',
    }),
]);

/** The CLI's form: the names of environment variables that hold the secrets. */
const envCredentialsSchema = z.union([
  z.strictObject({ tokenEnv: envName, username: username.default('x-access-token') }),
  z
    .strictObject({ passwordEnv: envName, username: username.optional(), usernameEnv: envName.optional() })
    .refine((value) => (value.username === undefined) !== (value.usernameEnv === undefined), {
      message: 'give username or usernameEnv (one of them) with passwordEnv',
    }),
]);

export const credentialsSchema = z.union([...ssmCredentialsSchema.options, ...envCredentialsSchema.options]);
export type Credentials = z.infer<typeof credentialsSchema>;

export const repositoryNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/,
    'letters, digits, ".", "_" and "-", starting with a letter or digit',
  );

/** An http(s) Git URL; the CLI may carry user info in it (never recorded). */
export const gitUrlSchema = z
  .string()
  .max(2048)
  .refine(
    (value) => {
      try {
        const url = new URL(value);
        return (url.protocol === 'https:' || url.protocol === 'http:') && url.hostname !== '';
      } catch {
        return false;
      }
    },
    { message: 'an http(s) URL of a Git repository, e.g. https://github.com/acme/liferay-workspace.git' },
  );

export const refPatternSchema = z
  .string()
  .max(512)
  .regex(REF_PATTERN, 'a ref name or pattern under refs/, e.g. refs/pull/* or refs/heads/release-*');

/** The most repositories a set holds (the settings allow no more). */
export const MAX_REPOSITORIES = 200;

export const repositorySchema = z.strictObject({
  /** Names the repository in the manifest and in restore requests. */
  name: repositoryNameSchema,
  sourceUrl: gitUrlSchema,
  mirrorUrl: gitUrlSchema,
  sourceCredentials: credentialsSchema.optional(),
  mirrorCredentials: credentialsSchema.optional(),
  /** Refs left out on both sides (not pushed, not deleted, not compared), e.g. refs/pull/*. */
  exclude: z.array(refPatternSchema).max(100).default([]),
  /** Delete mirror refs that the source no longer has. @default false (a deletion at the source does not reach the mirror) */
  prune: z.boolean().default(false),
  /** Also keep the repository's objects in the backup store, so a restore needs neither Git host. */
  storeCopy: z.boolean().default(false),
});
export type RepositorySettings = z.infer<typeof repositorySchema>;

export const sourceSettingsSchema = z
  .strictObject({
    repositories: z.array(repositorySchema).max(MAX_REPOSITORIES).default([]),
    /** Used for any URL that has no credentials of its own. */
    defaultCredentials: credentialsSchema.optional(),
    /** Repositories mirrored at the same time. */
    concurrency: z.number().int().min(1).max(40).default(4),
    /**
     * SSM path under which a restore request may name credentials for its target (the restore
     * function may read nothing else), e.g. `/liferay-backup/git-restore/`.
     */
    restoreCredentialsPath: z
      .string()
      .regex(/^\/[A-Za-z0-9_.\-/]*\/$/, 'an SSM path that starts and ends with /')
      .optional(),
  })
  .superRefine((settings, ctx) => {
    const names = settings.repositories.map((repository) => repository.name);
    const duplicate = names.find((name, index) => names.indexOf(name) !== index);
    if (duplicate)
      ctx.addIssue({
        code: 'custom',
        path: ['repositories'],
        message: `repository name ${duplicate} is used twice`,
      });
  });
export type SourceSettings = z.infer<typeof sourceSettingsSchema>;

// ---------------------------------------------------------------------------------------------
// The restore request: `"source": {"targets": [{"repository": "workspace", "url": "https://..."}]}`

const urlWithoutUserInfo = gitUrlSchema.refine(
  (value) => {
    const url = new URL(value);
    return url.username === '' && url.password === '';
  },
  {
    // On the CLI, --git-target's user info is moved into environment variables before the request
    // is built (local-options.ts): it reaches this check only when a "/", "?", "#" or "@" in it is
    // not percent-encoded, and the URL parser did not read it as user info.
    message:
      'must not carry user info: name an SSM parameter under "credentials" instead ' +
      `(CLI: set ${GIT_ENV.targetToken}, or ${GIT_ENV.targetUsername} and ${GIT_ENV.targetPassword}; ` +
      'user info in the --git-target URL is taken when "/", "?", "#" and "@" in it are percent-encoded: %2F, %3F, %23, %40)',
  },
);

export const restoreTargetSchema = z.strictObject({
  /** Which recorded repository; may be left out when the backup holds only one. */
  repository: repositoryNameSchema.optional(),
  /** The remote the recorded refs are pushed to. */
  url: urlWithoutUserInfo,
  credentials: credentialsSchema.optional(),
  /** Refs to restore (names or patterns). @default every recorded ref */
  refs: z.array(refPatternSchema).min(1).max(100).optional(),
  /** Where the objects come from. `auto`: the store copy when there is one, else the mirror. */
  from: z.enum(['auto', 'mirror', 'store']).default('auto'),
  /** Push although the target already has refs (recorded refs are force-updated; others are left alone). */
  overwrite: z.boolean().default(false),
});
export type RestoreTarget = z.infer<typeof restoreTargetSchema>;

export const sourceRestoreRequestSchema = z.strictObject({
  targets: z.array(restoreTargetSchema).max(50).default([]),
});
export type SourceRestoreRequest = z.infer<typeof sourceRestoreRequestSchema>;

// ---------------------------------------------------------------------------------------------
// What a backup records.

export const oidSchema = z.string().regex(/^[0-9a-f]{40}$/, 'a 40-digit object id');

export const storedPackSchema = z.strictObject({
  key: z.string().regex(/^objects\/git\/pack-[0-9a-f]{64}\.pack$/),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  bytes: z.number().int().min(32),
  objects: z.number().int().min(0),
});
export type StoredPack = z.infer<typeof storedPackSchema>;

/** One repository at backup time: the full record, kept at `recordKey` in the store. */
export const repositoryRecordSchema = z.strictObject({
  name: repositoryNameSchema,
  /** URLs as configured, without user info. */
  sourceUrl: z.string().max(2048),
  mirrorUrl: z.string().max(2048),
  capturedAt: z.iso.datetime({ offset: true }),
  /** Where the source's HEAD pointed (a push cannot set it; a restore warns when it differs). */
  head: z.string().max(1024).optional(),
  /** Every mirrored ref and its object id at backup time. */
  refs: z.record(z.string().max(1024), oidSchema),
  exclude: z.array(z.string()).default([]),
  prune: z.boolean(),
  /** Refs on the mirror that the source no longer has (kept: prune is off). */
  keptOnMirror: z.array(z.string()).default([]),
  /** Refs this run deleted on the mirror (prune). */
  deletedOnMirror: z.array(z.string()).default([]),
  /** The packs in the store that together hold every object of `refs`, oldest first. */
  storeCopy: z.strictObject({ packs: z.array(storedPackSchema).min(1) }).optional(),
  stats: z.strictObject({
    created: z.number().int(),
    updated: z.number().int(),
    deleted: z.number().int(),
    packBytes: z.number().int(),
    packObjects: z.number().int(),
    storedBytes: z.number().int(),
    seconds: z.number(),
  }),
  warnings: z.array(z.string()).default([]),
});
export type RepositoryRecord = z.infer<typeof repositoryRecordSchema>;

/**
 * A repository in the manifest: the record, with its refs and lists inline unless the whole
 * component would outgrow the budget a Step Functions state can carry (then the lists are cut to
 * their first names or to counts, and the refs left out when they still do not fit; the full
 * record is read from `recordKey`).
 */
export const repositoryDetailsSchema = repositoryRecordSchema
  .extend({
    refs: repositoryRecordSchema.shape.refs.optional(),
    /** The chain's packs, or its first ones (none) when fullLengths.packs gives their number. */
    storeCopy: z.strictObject({ packs: z.array(storedPackSchema) }).optional(),
    refCount: z.number().int().min(0),
    recordKey: z.string().max(1024),
    /** The full length of each list cut short here (keptOnMirror, deletedOnMirror, exclude, warnings). */
    fullLengths: z
      .strictObject({
        keptOnMirror: z.number().int().min(0),
        deletedOnMirror: z.number().int().min(0),
        exclude: z.number().int().min(0),
        warnings: z.number().int().min(0),
        /** The store copy's packs (the full chain is in the record: read it, never this list). */
        packs: z.number().int().min(1),
      })
      .partial()
      .optional(),
  })
  .strict();
export type RepositoryDetails = z.infer<typeof repositoryDetailsSchema>;

/** The component's details with every repository's entry: what a restore, retention and the drill read. */
export const sourceDetailsSchema = z.object({
  repositories: z.array(repositoryDetailsSchema),
});
export type SourceDetails = z.infer<typeof sourceDetailsSchema>;

/**
 * Where the repositories' entries are when they would not fit the details (repository-list.ts):
 * an object of the set, checked against its size and sha256 when it is read back.
 */
export const repositoryListRefSchema = z.strictObject({
  key: z.string().min(1).max(1024),
  size: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  count: z.number().int().min(1).max(MAX_REPOSITORIES),
});
export type RepositoryListRef = z.infer<typeof repositoryListRefSchema>;

/**
 * What the details keep of a repository whose entry is in the stored list: what Validate checks a
 * restore request against without reading the store (the name, and whether there is a store copy).
 */
export const repositoryNameEntrySchema = z.strictObject({
  name: repositoryNameSchema,
  storeCopy: z.literal(true).optional(),
});

/**
 * The details when the entries are stored: every repository by name, and the list's reference. Its
 * entries have none of a full entry's fields, so a version that reads the entries only inline
 * refuses the set (unreadable details) instead of restoring from half a record.
 */
export const storedSourceDetailsSchema = z
  .strictObject({
    repositories: z.array(repositoryNameEntrySchema).min(1).max(MAX_REPOSITORIES),
    repositoryList: repositoryListRefSchema,
  })
  .refine((details) => details.repositories.length === details.repositoryList.count, {
    message: 'repositories and repositoryList.count differ',
  });
export type StoredSourceDetails = z.infer<typeof storedSourceDetailsSchema>;

/**
 * The source component's `details` as the manifest holds them: the entries inline (a few
 * repositories, and every set recorded before the list could be stored), or stored beside the set.
 */
export const sourceRecordSchema = z.union([storedSourceDetailsSchema, sourceDetailsSchema]);
export type SourceRecord = z.infer<typeof sourceRecordSchema>;
