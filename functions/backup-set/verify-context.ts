import * as z from 'zod';
import { componentNameSchema } from '#components/component.ts';
import { backupIdSchema } from './manifest.ts';

/**
 * What Begin verify hands to every component's check (at `$.verify` in the Verify workflow). In
 * its own module: components import it, and verify.ts imports the component registry.
 */
export const verifyContextSchema = z.object({
  verifyId: z.string(),
  backupId: backupIdSchema,
  components: z.array(componentNameSchema),
  selected: z.record(componentNameSchema, z.boolean()),
  startedAt: z.iso.datetime({ offset: true }),
  workPrefix: z.string(),
  /**
   * Present when the drill restores the files components for real: each goes into
   * `<folder>/<component>` through the Restore workflow, and the folder is removed afterwards.
   */
  scratch: z.object({ folder: z.string(), allowPartial: z.boolean() }).optional(),
});
export type VerifyContext = z.infer<typeof verifyContextSchema>;
