import * as path from 'node:path';
import * as z from 'zod';
import { hooksSettingsSchema } from '#backup-set/hooks.ts';
import { retentionSettingsSchema } from '#backup-set/retention-policy.ts';
import { type ComponentName, componentNameSchema } from '#components/component.ts';
import { ConfigError, describeIssues } from './errors.ts';

/**
 * The settings every handler runs with. On AWS the stack writes them as JSON into the Lambda
 * environment (LIFERAY_BACKUP_SETTINGS); locally the CLI builds them from flags. Each component's
 * part is validated by that component's own schema (registry.ts), so this file does not change
 * when a component is added.
 */
export const settingsSchema = z.object({
  /** Names the Liferay environment; one backup at a time runs per environment. */
  environment: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,38}[a-z0-9]$/, 'lower-case letters, digits and hyphens, 2-40 characters'),
  /** A lock older than this is stale (its run died without releasing it) and may be taken over. */
  lockTimeoutMinutes: z.number().int().min(5).max(10_080).default(1440),
  /** Optional commands run before and after the capture (backup-set/hooks.ts). */
  hooks: hooksSettingsSchema.optional(),
  /** Grandfather-father-son retention and garbage collection (backup-set/retention.ts). */
  retention: retentionSettingsSchema.optional(),
  /**
   * The restore drill restores the files components into a new folder below `scratchRoot`
   * (`<scratchRoot>/<verifyId>/<component>`) and removes it afterwards. Absent: the drill reads
   * every file back from the store instead.
   */
  verify: z
    .strictObject({
      scratchRoot: z
        .string()
        .max(1024)
        .refine(
          (value) =>
            path.posix.isAbsolute(value) &&
            path.posix.normalize(value) === value &&
            value !== '/' &&
            !value.endsWith('/'),
          {
            message: 'an absolute, normalised folder path other than / (no . or .. segments, no trailing /)',
          },
        )
        .optional(),
    })
    .default({}),
  /** Every component configured in this deployment, in workflow order (what Begin and Validate offer). */
  configuredComponents: z.array(componentNameSchema).default([]),
  /**
   * Component settings. A Lambda gets only its own component's part (Lambda's environment is
   * limited to 4 KB); the CLI gets all of them.
   */
  components: z.partialRecord(componentNameSchema, z.unknown()).default({}),
});
export type Settings = z.infer<typeof settingsSchema>;

export function parseSettings(raw: unknown, source: string): Settings {
  const parsed = settingsSchema.safeParse(raw);
  if (!parsed.success)
    throw new ConfigError(`invalid settings in ${source}: ${describeIssues(parsed.error.issues)}`);
  return parsed.data;
}

/** The configured components, in workflow order. */
export function configuredComponents(settings: Settings): ComponentName[] {
  return componentNameSchema.options.filter((name) => settings.configuredComponents.includes(name));
}

/** A component's settings, validated with its schema; a clear error names the component and key. */
export function componentSettings<S extends z.ZodType>(
  settings: Settings,
  name: ComponentName,
  schema: S,
): z.infer<S> {
  const raw = settings.components[name];
  if (raw === undefined) throw new ConfigError(`component ${name} is not configured`);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(`invalid settings for component ${name}: ${describeIssues(parsed.error.issues)}`);
  }
  return parsed.data;
}
