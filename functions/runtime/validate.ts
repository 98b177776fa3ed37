import type * as z from 'zod';
import { describeIssues, InvalidInputError } from './errors.ts';

/** A plain object (not null, not an array): a value read from JSON that holds named fields. */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A string with something in it, else undefined: a CLI flag, a setting or a field read loosely. */
export function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** Validates input at the edge; the error names each bad key and what is allowed. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new InvalidInputError(`invalid ${what}: ${describeIssues(parsed.error.issues)}`);
  return parsed.data;
}
