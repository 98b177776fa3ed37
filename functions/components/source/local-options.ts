import type { CliCommand, LocalOptions } from '#components/component.ts';
import { InvalidInputError } from '#runtime/errors.ts';
import { maskBeforeLastAt, maskUrlUserInfo } from '#runtime/redact.ts';
import { splitUserInfo } from './credentials.ts';
import type { Credentials } from './settings.ts';

/**
 * The CLI's Git flags. Credentials come from the environment (LIFERAY_BACKUP_GIT_TOKEN, or
 * LIFERAY_BACKUP_GIT_USERNAME + LIFERAY_BACKUP_GIT_PASSWORD; for a restore target
 * LIFERAY_BACKUP_GIT_TARGET_*) or from a URL's user info; the settings and the restore request
 * carry only the names of those variables, so no secret is echoed, recorded or logged.
 */
export const GIT_ENV = {
  token: 'LIFERAY_BACKUP_GIT_TOKEN',
  username: 'LIFERAY_BACKUP_GIT_USERNAME',
  password: 'LIFERAY_BACKUP_GIT_PASSWORD',
  targetToken: 'LIFERAY_BACKUP_GIT_TARGET_TOKEN',
  targetUsername: 'LIFERAY_BACKUP_GIT_TARGET_USERNAME',
  targetPassword: 'LIFERAY_BACKUP_GIT_TARGET_PASSWORD',
} as const;

function envCredentials(
  env: NodeJS.ProcessEnv,
  names: { token: string; username: string; password: string },
): Credentials | undefined {
  if (env[names.token]) return { tokenEnv: names.token, username: 'x-access-token' };
  if (env[names.password]) {
    return env[names.username]
      ? { passwordEnv: names.password, usernameEnv: names.username }
      : { passwordEnv: names.password, username: 'git' };
  }
  return undefined;
}

function strings(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).filter((item): item is string => typeof item === 'string');
}

/** Splits `SOURCE=MIRROR` at the `=` that starts the second URL (a URL may itself hold `=`). */
export function parseGitPair(value: string): { sourceUrl: string; mirrorUrl: string } {
  const match = /^(.+?)=(https?:\/\/.+)$/.exec(value);
  if (!match?.[1] || !match[2]) {
    throw new InvalidInputError(
      `--git ${maskUrlUserInfo(value)}: expected SOURCE_URL=MIRROR_URL (both http(s) URLs)`,
    );
  }
  return { sourceUrl: match[1], mirrorUrl: match[2] };
}

/** A repository name from its URL: the last path segment without `.git`, made safe. */
export function nameFromUrl(url: string, taken: ReadonlySet<string>): string {
  let base = 'repository';
  try {
    const last = new URL(url).pathname.split('/').filter(Boolean).pop() ?? '';
    base =
      last
        .replace(/\.git$/, '')
        .replace(/[^A-Za-z0-9._-]/g, '-')
        .replace(/^[^A-Za-z0-9]+/, '')
        .slice(0, 90) || 'repository';
  } catch {
    // the settings schema reports the bad URL
  }
  let name = base;
  for (let index = 2; taken.has(name); index += 1) name = `${base}-${index}`;
  return name;
}

export function sourceLocalOptions(env: NodeJS.ProcessEnv = process.env): LocalOptions {
  return {
    options: {
      git: {
        type: 'string',
        multiple: true,
        description: `SOURCE_URL=MIRROR_URL: mirror a Git repository (credentials: $${GIT_ENV.token}, or $${GIT_ENV.username}/$${GIT_ENV.password}, or the URLs' user info)`,
        commands: ['backup'],
      },
      'git-exclude': {
        type: 'string',
        multiple: true,
        description: 'ref pattern left out of the Git mirror, e.g. refs/pull/*',
        commands: ['backup'],
      },
      'git-prune': {
        type: 'boolean',
        description: 'delete mirror refs the Git source no longer has',
        commands: ['backup'],
      },
      'git-store-copy': {
        type: 'boolean',
        description: 'also keep the Git objects in the store (restore without either host)',
        commands: ['backup'],
      },
      'git-target': {
        type: 'string',
        multiple: true,
        description: `[REPOSITORY=]URL: push the recorded Git refs there (credentials: $${GIT_ENV.targetToken}, or $${GIT_ENV.targetUsername}/$${GIT_ENV.targetPassword}, or the URL's user info)`,
        commands: ['restore'],
      },
      'git-refs': {
        type: 'string',
        multiple: true,
        description: 'restore only the Git refs matching this pattern (repeatable)',
        commands: ['restore'],
      },
      'git-from': {
        type: 'string',
        description: 'where Git objects come from: auto (default), mirror or store',
        commands: ['restore'],
      },
      'git-overwrite': {
        type: 'boolean',
        description: 'push the Git refs although the target has refs',
        commands: ['restore'],
      },
    },

    settingsFromOptions(values: Readonly<Record<string, unknown>>, command: CliCommand) {
      const defaultCredentials = envCredentials(env, GIT_ENV);
      if (command === 'restore') {
        if (strings(values['git-target']).length === 0) return undefined;
        return { repositories: [], ...(defaultCredentials ? { defaultCredentials } : {}) };
      }
      // The drill lists each mirror's refs with the mirror's credentials: locally from the environment.
      if (command === 'verify')
        return defaultCredentials ? { repositories: [], defaultCredentials } : undefined;
      if (command !== 'backup') return undefined;
      const pairs = strings(values.git);
      if (pairs.length === 0) return undefined;
      const taken = new Set<string>();
      const repositories = pairs.map((pair) => {
        const { sourceUrl, mirrorUrl } = parseGitPair(pair);
        const name = nameFromUrl(sourceUrl, taken);
        taken.add(name);
        return {
          name,
          sourceUrl,
          mirrorUrl,
          exclude: strings(values['git-exclude']),
          prune: values['git-prune'] === true,
          storeCopy: values['git-store-copy'] === true,
        };
      });
      return { repositories, ...(defaultCredentials ? { defaultCredentials } : {}) };
    },

    restoreRequestFromOptions(values: Readonly<Record<string, unknown>>) {
      const targets = strings(values['git-target']);
      if (targets.length === 0) return undefined;
      const refs = strings(values['git-refs']);
      const from = typeof values['git-from'] === 'string' ? values['git-from'] : undefined;
      return {
        targets: targets.map((value, index) => {
          const match = /^([A-Za-z0-9][A-Za-z0-9._-]*)=(https?:\/\/.+)$/.exec(value);
          const raw = match?.[2] ?? value;
          // User info never goes into the request (it is recorded in the restore report): it is
          // handed over in this process's environment, and the request names the variables.
          let url = raw;
          let credentials: Credentials | undefined = envCredentials(env, {
            token: GIT_ENV.targetToken,
            username: GIT_ENV.targetUsername,
            password: GIT_ENV.targetPassword,
          });
          try {
            const split = splitUserInfo(raw);
            url = split.url;
            if (split.username !== undefined) {
              const suffix = targets.length > 1 ? `_${index + 1}` : '';
              const userVar = `${GIT_ENV.targetUsername}${suffix}`;
              const passwordVar = `${GIT_ENV.targetPassword}${suffix}`;
              env[userVar] = split.username;
              env[passwordVar] = split.password ?? '';
              credentials = { passwordEnv: passwordVar, usernameEnv: userVar };
            }
          } catch {
            // not a URL: the request schema says so
          }
          // An "@" the parser did not read as user info (a password holding an unencoded "/":
          // `https://bot:2024/S3cret@host`) would carry the password into the request and the
          // restore report: all before the last "@" is masked, and the request check refuses it.
          url = maskBeforeLastAt(url);
          credentials ??= envCredentials(env, GIT_ENV);
          return {
            ...(match?.[1] ? { repository: match[1] } : {}),
            url,
            ...(credentials ? { credentials } : {}),
            ...(refs.length > 0 ? { refs } : {}),
            ...(from ? { from } : {}),
            ...(values['git-overwrite'] === true ? { overwrite: true } : {}),
          };
        }),
      };
    },
  };
}
